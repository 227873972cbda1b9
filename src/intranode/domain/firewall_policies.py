"""Firewall policies (``compute#firewallPolicy``): hierarchical policies of an organization or
folder (``locations/global/firewallPolicies/<numeric id>``) and global network policies of a
project (``projects/P/global/firewallPolicies/<name>``). The bodies, Google's validation, the
stored documents, and the pure changes the API makes to them: rules (see
:mod:`.firewall_policies_rules`), associations, patch, move, clone.

The emulated hierarchy (:class:`Hierarchy`): one organization holding one folder holding the
project(s); only those two nodes exist. A well-formed node that is not one of them gets the
403 Compute answers for a resource the caller may not see; a malformed one a 400.

Choices where Google's behaviour is not known (docs/firewall-policies.md): a hierarchical
policy's id is 12 digits (gcloud takes 9-15 digits for an id, anything else for a short name);
``shortName`` (or ``displayName``, which gcloud sends) is unique in the organization, and both
are shown; ``fingerprint`` is checked when a PATCH carries one (412 when stale) and rotates on
every change to the policy, its rules or its associations; an association's ``name`` defaults
to gcloud's (``organization-N``, ``folder-N``, ``network-NAME``) and is unique in its policy.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import StrictStr

from intranode.domain.compute import (
    Wire,
    base_document,
    check_name,
    fingerprint_mismatch,
    invalid_field,
    name_of,
    new_operation_name,
    operation_document,
    parse_resource,
    reference,
    required_field,
    same_fingerprint,
)
from intranode.domain.firewall_policies_rules import (
    PREDEFINED_PRIORITIES,
    PolicyScope,
    RuleBody,
    check_unique_priorities,
    check_user_priority,
    given_fields,
    merge_rule,
    predefined_rule_documents,
    rule_document,
    sorted_rules,
)
from intranode.domain.resources import (
    compute_link,
    hierarchical_policy_key,
    network_policy_key,
    new_fingerprint,
    organization_operation_key,
)
from intranode.errors import InvalidArgument, NotFound, PermissionDenied, Unimplemented

POLICY_TYPES = ("VPC_POLICY",)
_OUTPUT_ONLY = (
    "kind",
    "id",
    "creationTimestamp",
    "selfLink",
    "selfLinkWithId",
    "parent",
    "region",
    "ruleTupleCount",
)
_KEY_ORDER = (
    "kind",
    "id",
    "creationTimestamp",
    "name",
    "description",
    "rules",
    "fingerprint",
    "selfLink",
    "selfLinkWithId",
    "associations",
    "ruleTupleCount",
    "displayName",
    "shortName",
    "parent",
)


# The emulated resource hierarchy --------------------------------------------------------------
@dataclass(frozen=True)
class Hierarchy:
    """The organization and the folder that holds the project(s), by numeric id."""

    organization_id: str
    folder_id: str

    @property
    def organization(self) -> str:
        return f"organizations/{self.organization_id}"

    @property
    def folder(self) -> str:
        return f"folders/{self.folder_id}"

    @property
    def ancestry(self) -> tuple[str, str]:
        """A project's ancestors, top-down: the order hierarchical policies are evaluated in."""
        return (self.organization, self.folder)

    def node(self, value: str | None, field: str, permission: str) -> str:
        """``organizations/N`` or ``folders/N`` as a caller named it; 400 when it is not of
        that form, 403 when it is not a node of this hierarchy."""
        if not value:
            raise required_field(field)
        kind, _, number = value.partition("/")
        if kind not in ("organizations", "folders") or not number.isdigit():
            raise invalid_field(
                field, value, "Must be of the form 'organizations/{id}' or 'folders/{id}'."
            )
        if value not in self.ancestry:
            raise PermissionDenied(f"Required '{permission}' permission for '{value}'")
        return value


# Bodies ---------------------------------------------------------------------------------------
class AssociationBody(Wire):
    name: StrictStr | None = None
    attachment_target: StrictStr | None = None
    # Output-only.
    firewall_policy_id: Any = None
    short_name: Any = None
    display_name: Any = None


class PolicyBody(Wire):
    name: StrictStr | None = None
    short_name: StrictStr | None = None
    display_name: StrictStr | None = None
    description: StrictStr | None = None
    rules: list[RuleBody] | None = None
    fingerprint: StrictStr | None = None
    associations: list[AssociationBody] | None = None
    packet_mirroring_rules: list[RuleBody] | None = None
    policy_type: StrictStr | None = None
    # Output-only.
    kind: Any = None
    id: Any = None
    creation_timestamp: Any = None
    self_link: Any = None
    self_link_with_id: Any = None
    parent: Any = None
    region: Any = None
    rule_tuple_count: Any = None


def parse_rule(data: Any) -> dict[str, Any]:
    """The fields of a ``FirewallPolicyRule`` body, by JSON name (strict: unknown names 400)."""
    return given_fields(parse_resource(RuleBody, data))


# Documents ------------------------------------------------------------------------------------
def scope_of_policy(doc: Mapping[str, Any]) -> PolicyScope:
    return "hierarchical" if "parent" in doc else "network"


def new_policy_id() -> str:
    """A hierarchical policy's id and name: 12 digits, like Google's."""
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def hierarchical_policy_document(
    data: Any, parent: str, policy_id: str, project: str, now: float
) -> dict[str, Any]:
    """Validate an insert body for ``parent`` (a checked node) and return the policy as stored
    and served. ``project`` resolves partial network URLs in rules."""
    body = parse_resource(PolicyBody, data)
    short = body.short_name or body.display_name
    if body.short_name and body.display_name and body.short_name != body.display_name:
        raise invalid_field(
            "resource.displayName",
            body.display_name,
            "displayName and shortName must be the same when both are given.",
        )
    short = check_name(short, "resource.shortName")
    _check_unsupported(body)
    key = hierarchical_policy_key(policy_id)
    doc = base_document("compute#firewallPolicy", key, now)
    doc["id"] = policy_id
    if body.description:
        doc["description"] = body.description
    doc["selfLinkWithId"] = doc["selfLink"]
    doc.update(displayName=short, shortName=short, parent=parent)
    return with_rules(doc, _user_rules(body, "hierarchical", project))


def network_policy_document(project: str, data: Any, now: float) -> dict[str, Any]:
    """Validate a global network policy's insert body; the policy as stored and served.
    ``shortName``/``displayName`` do not apply to network policies and are not kept."""
    body = parse_resource(PolicyBody, data)
    name = check_name(body.name)
    _check_unsupported(body)
    key = network_policy_key(project, name)
    doc = base_document("compute#firewallPolicy", key, now)
    if body.description:
        doc["description"] = body.description
    doc["selfLinkWithId"] = compute_link(network_policy_key(project, doc["id"]))
    return with_rules(doc, _user_rules(body, "network", project))


def with_rules(doc: Mapping[str, Any], user_rules: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``doc`` holding ``user_rules`` plus the predefined ones, sorted, counted, with a new
    fingerprint: every change to a policy goes through here or :func:`touched`."""
    rules = sorted_rules([*user_rules, *predefined_rule_documents()])
    new = dict(doc)
    new["rules"] = rules
    new["ruleTupleCount"] = sum(int(r["ruleTupleCount"]) for r in rules)
    return touched(new)


def touched(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` with a new fingerprint and its keys in Google's order."""
    new = dict(doc)
    new["fingerprint"] = new_fingerprint()
    if not new.get("associations"):
        new.pop("associations", None)
    return {k: new[k] for k in _KEY_ORDER if k in new}


def user_rules(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc.get("rules") or () if r["priority"] not in PREDEFINED_PRIORITIES]


def _user_rules(body: PolicyBody, scope: PolicyScope, project: str) -> list[dict[str, Any]]:
    """The rules of an insert or PATCH body, validated; the predefined ones are Google's and
    replace whatever a body gives at their priorities (an exported policy carries them)."""
    rules = []
    for i, rule in enumerate(body.rules or ()):
        spec = given_fields(rule)
        if spec.get("priority") in PREDEFINED_PRIORITIES:
            continue
        rules.append(rule_document(spec, scope, project, f"resource.rules[{i}]"))
    check_unique_priorities(rules, "resource.rules")
    return rules


def _check_unsupported(body: PolicyBody) -> None:
    if body.associations:
        raise invalid_field(
            "resource.associations",
            body.associations[0].attachment_target or "",
            "Associations are made with addAssociation, not in the policy's body.",
        )
    if body.packet_mirroring_rules:
        raise Unimplemented(
            "intranode does not serve packet mirroring rules of firewall policies "
            "(resource.packetMirroringRules)."
        )
    if body.policy_type is not None and body.policy_type not in POLICY_TYPES:
        raise invalid_field(
            "resource.policyType",
            body.policy_type,
            "intranode serves VPC_POLICY firewall policies only.",
        )


def patch_policy(current: Mapping[str, Any], data: Any, project: str) -> dict[str, Any]:
    """PATCH: ``description`` and ``rules`` (all of a user's rules at once, as gcloud's
    import-rules sends them) change; the name and short name cannot. A fingerprint the body
    carries must be the current one (412)."""
    body = parse_resource(PolicyBody, data)
    if body.fingerprint is not None and not same_fingerprint(
        body.fingerprint, current.get("fingerprint")
    ):
        raise fingerprint_mismatch()
    _check_unsupported(body)
    scope = scope_of_policy(current)
    if scope == "network" and body.name is not None and body.name != current["name"]:
        raise invalid_field("resource.name", body.name, "The name cannot be changed.")
    if scope == "hierarchical":
        for field, value in (("shortName", body.short_name), ("displayName", body.display_name)):
            if value is not None and value != current.get(field):
                raise invalid_field(f"resource.{field}", value, "The short name cannot be changed.")
    doc = dict(current)
    if body.given("description"):
        if body.description:
            doc["description"] = body.description
        else:
            doc.pop("description", None)
    rules = _user_rules(body, scope, project) if body.given("rules") else user_rules(current)
    return with_rules(doc, rules)


# Rules ----------------------------------------------------------------------------------------
def rule_at(doc: Mapping[str, Any], priority: int) -> dict[str, Any]:
    for rule in doc.get("rules") or ():
        if rule["priority"] == priority:
            return dict(rule)
    raise invalid_field(
        "priority", priority, f"The firewall policy does not contain a rule at priority {priority}."
    )


def add_rule(
    doc: Mapping[str, Any],
    data: Any,
    project: str,
    *,
    priority_range: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """``addRule``. A network policy's rule without a priority takes the first free one in
    ``priority_range`` (``minPriority``/``maxPriority``)."""
    spec = parse_rule(data)
    taken = {int(r["priority"]) for r in doc.get("rules") or ()}
    if spec.get("priority") is None and priority_range is not None:
        low, high = priority_range
        free = next((p for p in range(low, high + 1) if p not in taken), None)
        if free is None:
            raise invalid_field(
                "maxPriority", high, f"No priority between {low} and {high} is free."
            )
        spec["priority"] = free
    rule = rule_document(spec, scope_of_policy(doc), project)
    if rule["priority"] in taken:
        raise invalid_field(
            "resource.priority", rule["priority"], "Cannot have rules with the same priorities."
        )
    return with_rules(doc, [*user_rules(doc), rule])


def patch_rule(doc: Mapping[str, Any], priority: int, data: Any, project: str) -> dict[str, Any]:
    """``patchRule``: the given fields replace the rule's (``match`` field by field); a body
    ``priority`` other than ``priority`` moves the rule there."""
    _check_not_predefined(priority)
    current = rule_at(doc, priority)
    merged = merge_rule(current, parse_rule(data))
    merged.setdefault("priority", priority)
    rule = rule_document(merged, scope_of_policy(doc), project)
    others = [r for r in user_rules(doc) if r["priority"] != priority]
    if any(r["priority"] == rule["priority"] for r in others):
        raise invalid_field(
            "resource.priority", rule["priority"], "Cannot have rules with the same priorities."
        )
    return with_rules(doc, [*others, rule])


def remove_rule(doc: Mapping[str, Any], priority: int) -> dict[str, Any]:
    _check_not_predefined(priority)
    rule_at(doc, priority)
    return with_rules(doc, [r for r in user_rules(doc) if r["priority"] != priority])


def clone_rules(doc: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """``cloneRules``: the source's rules replace this policy's."""
    return with_rules(doc, user_rules(source))


def _check_not_predefined(priority: int) -> None:
    if priority in PREDEFINED_PRIORITIES:
        raise invalid_field(
            "priority",
            priority,
            "The predefined rules of a firewall policy cannot be changed or removed.",
        )
    check_user_priority(priority, "priority")


# Associations ---------------------------------------------------------------------------------
def association_document(
    policy: Mapping[str, Any],
    data: Any,
    project: str,
    hierarchy: Hierarchy,
) -> dict[str, Any]:
    """An ``addAssociation`` body, validated, as the policy will hold it. The target of a
    hierarchical policy is a node of ``hierarchy``; a network policy's is a network URL of the
    policy's own project (the caller checks that the network exists)."""
    body = parse_resource(AssociationBody, data)
    target = body.attachment_target
    if not target:
        raise required_field("resource.attachmentTarget")
    if scope_of_policy(policy) == "hierarchical":
        node = hierarchy.node(
            target, "resource.attachmentTarget", "compute.firewallPolicies.addAssociation"
        )
        kind, number = node.split("/")
        name = body.name or f"{kind[:-1]}-{number}"
        return {
            "name": name,
            "attachmentTarget": node,
            "firewallPolicyId": policy["id"],
            "shortName": policy["shortName"],
            "displayName": policy["shortName"],
        }
    key = reference(target, project, "resource.attachmentTarget", "global/networks")
    if not key.startswith(f"projects/{project}/"):
        raise invalid_field(
            "resource.attachmentTarget",
            target,
            "A network firewall policy can be associated only with networks of its project.",
        )
    return {"name": body.name or f"network-{name_of(key)}", "attachmentTarget": compute_link(key)}


def association_named(policy: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    if not name:
        raise required_field("name")
    for assoc in policy.get("associations") or ():
        if assoc["name"] == name:
            return dict(assoc)
    raise NotFound(
        f"The firewall policy '{policy['selfLink'].rsplit('/', 1)[-1]}' has no association "
        f"named '{name}'."
    )


def with_association(policy: Mapping[str, Any], assoc: Mapping[str, Any]) -> dict[str, Any]:
    """The policy holding ``assoc`` besides its others; 400 when the name is taken."""
    if any(a["name"] == assoc["name"] for a in policy.get("associations") or ()):
        raise invalid_field(
            "resource.name",
            assoc["name"],
            "The firewall policy already has an association with this name.",
        )
    return touched({**policy, "associations": [*(policy.get("associations") or []), assoc]})


def without_association(policy: Mapping[str, Any], name: str) -> dict[str, Any]:
    kept = [a for a in policy.get("associations") or () if a["name"] != name]
    return touched({**policy, "associations": kept})


def moved(policy: Mapping[str, Any], parent: str) -> dict[str, Any]:
    return touched({**policy, "parent": parent})


# Operations of organization resources ---------------------------------------------------------
def organization_operation_document(
    organization_id: str, operation_type: str, target_key: str, target_id: str, now: float
) -> dict[str, Any]:
    """A finished operation of a hierarchical policy. Its name starts ``org-<organization
    id>-``: gcloud reads the organization to poll from the name's second field."""
    # Compute's operation, renamed and relinked: organization operations have no project.
    doc = operation_document("-", "global", operation_type, target_key, target_id, now)
    name = f"org-{organization_id}-" + new_operation_name(now).removeprefix("operation-")
    doc["name"] = name
    doc["selfLink"] = compute_link(organization_operation_key(name))
    return doc


# Query parameters -----------------------------------------------------------------------------
def query_int(name: str, value: str | None, proto: str = "TYPE_INT32") -> int | None:
    """An integer query parameter (None when absent), with the front end's text when not one."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise InvalidArgument(f"Invalid value at '{name}' ({proto}), \"{value}\"") from None


def query_bool(name: str, value: str | None) -> bool:
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise InvalidArgument(f"Invalid value at '{name}' (TYPE_BOOL), \"{value}\"")

"""Firewall policies in the store: hierarchical policies of the emulated organization and
folder, global network policies of a project, their rules and associations. Each change is
applied before the call returns and recorded as an Operation that is already DONE: a
hierarchical policy's in the organization's operations (``locations/global/operations``), a
network policy's in the project's global operations.

Every policy is one ``compute.firewallPolicy`` resource whose document is exactly what the API
returns, rules and associations included; any write to a policy, a rule or an association is
therefore a change of that kind (store listeners see it).

Contracts other parts use: :func:`policies_for_network` (the firewall wiring),
:func:`hierarchy`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from intranode.controllers.compute import get_document
from intranode.controllers.context import Context
from intranode.domain import firewall_policies as fp
from intranode.domain.compute import (
    already_exists,
    in_use,
    link_key,
    not_found,
    operation_document,
    operation_key,
    scope_of,
)
from intranode.domain.firewall_policies_rules import MAX_USER_PRIORITY, check_user_priority
from intranode.domain.resources import (
    COMPUTE_OPERATION,
    FIREWALL_POLICY,
    NETWORK,
    hierarchical_policy_key,
    network_policy_key,
    organization_operation_key,
)
from intranode.errors import AlreadyExists, InvalidArgument
from intranode.store.resources import Resource

Doc = dict[str, Any]


@dataclass(frozen=True)
class PolicyRef:
    """Which policy a request names: its store key, and the project of a network policy
    (None for a hierarchical one)."""

    key: str
    project: str | None

    @property
    def hierarchical(self) -> bool:
        return self.project is None


def hierarchical(policy: str) -> PolicyRef:
    return PolicyRef(hierarchical_policy_key(policy), None)


def network(project: str, name: str) -> PolicyRef:
    return PolicyRef(network_policy_key(project, name), project)


def hierarchy(ctx: Context) -> fp.Hierarchy:
    """The organization and folder that hold every project served here."""
    return fp.Hierarchy(ctx.settings.organization_id, ctx.settings.folder_id)


# The firewall's view --------------------------------------------------------------------------
def policies_for_network(
    ctx: Context, project: str, network_key: str
) -> tuple[list[Doc], tuple[str, ...]]:
    """The ``compute#firewallPolicy`` documents that apply to a network (store key) of
    ``project``: the hierarchical policies associated with the organization or the folder,
    and the global network policy associated with the network, each as the API returns it;
    and the project's ancestry, top-down (``("organizations/ORG", "folders/F")``)."""
    ancestry = hierarchy(ctx).ancestry
    docs: list[Doc] = []
    for res in ctx.resources.find(FIREWALL_POLICY):
        targets = [str(a["attachmentTarget"]) for a in res.data.get("associations") or ()]
        if fp.scope_of_policy(res.data) == "hierarchical":
            if any(t in ancestry for t in targets):
                docs.append(res.data)
        elif res.key.startswith(f"projects/{project}/") and any(
            link_key(t, project) == network_key for t in targets
        ):
            docs.append(res.data)
    return docs, ancestry


# Policies -------------------------------------------------------------------------------------
def insert_hierarchical(ctx: Context, parent_id: str | None, data: Any) -> Doc:
    parent = hierarchy(ctx).node(parent_id, "parentId", "compute.firewallPolicies.create")
    store = ctx.resources
    with store.transaction():
        policy_id = fp.new_policy_id()
        while store.get(FIREWALL_POLICY, hierarchical_policy_key(policy_id)) is not None:
            policy_id = fp.new_policy_id()
        doc = fp.hierarchical_policy_document(
            data, parent, policy_id, ctx.settings.project, ctx.clock()
        )
        for res in store.find(FIREWALL_POLICY):
            if res.data.get("shortName") == doc["shortName"]:
                raise AlreadyExists(
                    f"A firewall policy with the short name '{doc['shortName']}' already "
                    f"exists in '{hierarchy(ctx).organization}'"
                )
        ref = hierarchical(policy_id)
        store.create(FIREWALL_POLICY, ref.key, parent, doc)
        return done_operation(ctx, ref, "insert", doc)


def insert_network_policy(ctx: Context, project: str, data: Any) -> Doc:
    doc = fp.network_policy_document(project, data, ctx.clock())
    ref = network(project, doc["name"])
    with ctx.resources.transaction():
        if ctx.resources.get(FIREWALL_POLICY, ref.key) is not None:
            raise already_exists(ref.key)
        ctx.resources.create(FIREWALL_POLICY, ref.key, scope_of(ref.key), doc)
        return done_operation(ctx, ref, "insert", doc)


def list_hierarchical(ctx: Context, parent_id: str | None) -> list[Doc]:
    parent = hierarchy(ctx).node(parent_id, "parentId", "compute.firewallPolicies.list")
    return [r.data for r in ctx.resources.find(FIREWALL_POLICY, parent)]


def list_network_policies(ctx: Context, project: str) -> list[Doc]:
    return [r.data for r in ctx.resources.find(FIREWALL_POLICY, f"projects/{project}/global")]


def get_policy(ctx: Context, ref: PolicyRef) -> Doc:
    return get_document(ctx, FIREWALL_POLICY, ref.key)


def patch_policy(ctx: Context, ref: PolicyRef, data: Any) -> Doc:
    return _change(ctx, ref, "patch", lambda doc: fp.patch_policy(doc, data, _project(ctx, ref)))


def delete_policy(ctx: Context, ref: PolicyRef) -> Doc:
    with ctx.resources.transaction():
        doc = get_policy(ctx, ref)
        associations = doc.get("associations") or []
        if associations:
            user = str(associations[0]["attachmentTarget"])
            if ref.project is not None:
                user = link_key(user, ref.project)
            raise in_use("firewall_policy", ref.key, user)
        ctx.resources.delete(FIREWALL_POLICY, ref.key)
        return done_operation(ctx, ref, "delete", doc)


def move(ctx: Context, ref: PolicyRef, parent_id: str | None) -> Doc:
    parent = hierarchy(ctx).node(parent_id, "parentId", "compute.firewallPolicies.move")
    store = ctx.resources
    with store.transaction():
        res = store.get(FIREWALL_POLICY, ref.key)
        if res is None:
            raise not_found(ref.key)
        doc = fp.moved(res.data, parent)
        # The parent is the store's too (lists by parent); a move re-files the policy.
        store.delete(FIREWALL_POLICY, ref.key)
        store.create(FIREWALL_POLICY, ref.key, parent, doc)
        return done_operation(ctx, ref, "move", doc)


def clone_rules(ctx: Context, ref: PolicyRef, source: str | None) -> Doc:
    """``cloneRules``: ``source`` is a policy of the same kind, by id or name or URL."""
    if not source:
        raise InvalidArgument(
            "Required field 'sourceFirewallPolicy' not specified", reason="required"
        )
    if ref.project is None:
        source_ref = hierarchical(source.rstrip("/").rsplit("/", 1)[-1])
    elif "/" in source:
        source_ref = PolicyRef(link_key(source, ref.project), ref.project)
    else:
        source_ref = network(ref.project, source)
    source_doc = get_policy(ctx, source_ref)
    return _change(ctx, ref, "cloneRules", lambda doc: fp.clone_rules(doc, source_doc))


# Rules ----------------------------------------------------------------------------------------
def add_rule(
    ctx: Context,
    ref: PolicyRef,
    data: Any,
    min_priority: int | None = None,
    max_priority: int | None = None,
) -> Doc:
    """``addRule``. A network policy's rule that comes without a priority takes the first
    free one between ``minPriority`` and ``maxPriority`` when either is given (the other
    defaults to 0 or the highest user priority); otherwise a rule needs its priority."""
    span = None
    if not ref.hierarchical and (min_priority is not None or max_priority is not None):
        low = 0 if min_priority is None else min_priority
        high = MAX_USER_PRIORITY if max_priority is None else max_priority
        check_user_priority(low, "minPriority")
        check_user_priority(high, "maxPriority")
        span = (low, high)
    return _change(
        ctx,
        ref,
        "addRule",
        lambda doc: fp.add_rule(doc, data, _project(ctx, ref), priority_range=span),
    )


def get_rule(ctx: Context, ref: PolicyRef, priority: int | None) -> Doc:
    return fp.rule_at(get_policy(ctx, ref), _priority(priority))


def patch_rule(ctx: Context, ref: PolicyRef, priority: int | None, data: Any) -> Doc:
    at = _priority(priority)
    return _change(
        ctx, ref, "patchRule", lambda doc: fp.patch_rule(doc, at, data, _project(ctx, ref))
    )


def remove_rule(ctx: Context, ref: PolicyRef, priority: int | None) -> Doc:
    at = _priority(priority)
    return _change(ctx, ref, "removeRule", lambda doc: fp.remove_rule(doc, at))


def _priority(priority: int | None) -> int:
    if priority is None:
        raise InvalidArgument("Required field 'priority' not specified", reason="required")
    return priority


# Associations ---------------------------------------------------------------------------------
def add_association(ctx: Context, ref: PolicyRef, data: Any, *, replace: bool) -> Doc:
    """``addAssociation``: one policy per organization, folder or network; with ``replace``
    the target's current association (of whichever policy) gives way, in one transaction."""
    store = ctx.resources
    with store.transaction():
        res = store.get(FIREWALL_POLICY, ref.key)
        if res is None:
            raise not_found(ref.key)
        assoc = fp.association_document(res.data, data, _project(ctx, ref), hierarchy(ctx))
        target = assoc["attachmentTarget"]
        if ref.project is not None:
            get_document(ctx, NETWORK, link_key(target, ref.project))
        for other in _same_kind(ctx, ref):
            for held in other.data.get("associations") or ():
                if held["attachmentTarget"] != target:
                    continue
                if not replace:
                    raise InvalidArgument(
                        f"The attachment target '{target}' already has a firewall policy "
                        f"associated: '{other.key}' (association '{held['name']}'). Set "
                        "replaceExistingAssociation to replace it."
                    )
                current = store.get(FIREWALL_POLICY, other.key)
                if current is not None:
                    store.update(
                        FIREWALL_POLICY,
                        other.key,
                        fp.without_association(current.data, held["name"]),
                    )
        current = store.get(FIREWALL_POLICY, ref.key)
        assert current is not None  # read above, inside this transaction
        doc = fp.with_association(current.data, assoc)
        store.update(FIREWALL_POLICY, ref.key, doc)
        return done_operation(ctx, ref, "addAssociation", doc)


def get_association(ctx: Context, ref: PolicyRef, name: str | None) -> Doc:
    return fp.association_named(get_policy(ctx, ref), name)


def remove_association(ctx: Context, ref: PolicyRef, name: str | None) -> Doc:
    def change(doc: Doc) -> Doc:
        found = fp.association_named(doc, name)
        return fp.without_association(doc, found["name"])

    return _change(ctx, ref, "removeAssociation", change)


def list_associations(ctx: Context, target_resource: str | None) -> list[Doc]:
    """The associations of hierarchical policies with ``target_resource`` (an organization or
    folder), or with any node when it is left out."""
    target = (
        hierarchy(ctx).node(
            target_resource, "targetResource", "compute.firewallPolicies.listAssociations"
        )
        if target_resource is not None
        else None
    )
    found = []
    for res in ctx.resources.find(FIREWALL_POLICY):
        if fp.scope_of_policy(res.data) != "hierarchical":
            continue
        for assoc in res.data.get("associations") or ():
            if target is None or assoc["attachmentTarget"] == target:
                found.append(assoc)
    return found


# Operations -----------------------------------------------------------------------------------
def get_organization_operation(ctx: Context, name: str, parent_id: str | None) -> Doc:
    if parent_id is not None:
        hierarchy(ctx).node(parent_id, "parentId", "compute.globalOrganizationOperations.get")
    return get_document(ctx, COMPUTE_OPERATION, organization_operation_key(name))


def list_organization_operations(ctx: Context, parent_id: str | None) -> list[Doc]:
    node = hierarchy(ctx).node(parent_id, "parentId", "compute.globalOrganizationOperations.list")
    return [r.data for r in ctx.resources.find(COMPUTE_OPERATION, node)]


def delete_organization_operation(ctx: Context, name: str, parent_id: str | None) -> None:
    get_organization_operation(ctx, name, parent_id)
    ctx.resources.delete(COMPUTE_OPERATION, organization_operation_key(name))


def done_operation(ctx: Context, ref: PolicyRef, op_type: str, doc: Doc) -> Doc:
    now = ctx.clock()
    if ref.project is None:
        h = hierarchy(ctx)
        op = fp.organization_operation_document(
            h.organization_id, op_type, ref.key, str(doc["id"]), now
        )
        # Filed under the organization: gcloud polls with parentId=organizations/<its id>.
        key, parent = organization_operation_key(op["name"]), h.organization
    else:
        op = operation_document(ref.project, "global", op_type, ref.key, str(doc["id"]), now)
        key = operation_key(ref.project, "global", op["name"])
        parent = scope_of(key)
    ctx.resources.create(COMPUTE_OPERATION, key, parent, op)
    return op


# Helpers --------------------------------------------------------------------------------------
def _change(ctx: Context, ref: PolicyRef, op_type: str, change: Callable[[Doc], Doc]) -> Doc:
    """Read the policy, apply a pure change, write it back: one transaction, one operation."""
    with ctx.resources.transaction():
        res = ctx.resources.get(FIREWALL_POLICY, ref.key)
        if res is None:
            raise not_found(ref.key)
        doc = change(res.data)
        ctx.resources.update(FIREWALL_POLICY, ref.key, doc, expect_revision=res.revision)
        return done_operation(ctx, ref, op_type, doc)


def _project(ctx: Context, ref: PolicyRef) -> str:
    """The project partial network URLs in a policy's rules are read in."""
    return ref.project or ctx.settings.project


def _same_kind(ctx: Context, ref: PolicyRef) -> list[Resource]:
    """Policies whose associations compete with ``ref``'s: every hierarchical policy, or the
    network policies of the same project."""
    if ref.project is None:
        return [
            r
            for r in ctx.resources.find(FIREWALL_POLICY)
            if fp.scope_of_policy(r.data) == "hierarchical"
        ]
    return ctx.resources.find(FIREWALL_POLICY, f"projects/{ref.project}/global")

"""Compute v1: firewall policies. Hierarchical policies of the organization and its folder
(``locations/global/firewallPolicies``, with their operations at ``locations/global/
operations``) and global network policies of a project (``projects/P/global/
firewallPolicies``, the ``networkFirewallPolicies`` collection), with rules and associations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from intranode.api.deps import get_ctx, read_json
from intranode.api.google.compute_wire import (
    ListQuery,
    aggregated_reply,
    list_query,
    list_reply,
    project_ctx,
    reply,
)
from intranode.controllers import firewall_policies as ctl
from intranode.controllers.context import Context
from intranode.domain.firewall_policies import query_bool, query_int

router = APIRouter()
ORG = "/locations/global/firewallPolicies"
NET = "/projects/{project}/global/firewallPolicies"
Target = tuple[Context, ctl.PolicyRef]


def _org_policy(request: Request, policy: str) -> Target:
    return get_ctx(request), ctl.hierarchical(policy)


def _net_policy(request: Request, project: str, policy: str) -> Target:
    return project_ctx(request, project), ctl.network(project, policy)


# Collections (declared before ``{policy}`` so that ``listAssociations`` is not a policy) ------
@router.get(ORG)
async def list_hierarchical(
    request: Request,
    parent_id: str | None = Query(None, alias="parentId"),
    q: ListQuery = Depends(list_query),
) -> JSONResponse:
    docs = ctl.list_hierarchical(get_ctx(request), parent_id)
    return list_reply("compute#firewallPolicyList", ORG.lstrip("/"), docs, q)


@router.post(ORG)
async def insert_hierarchical(
    request: Request, parent_id: str | None = Query(None, alias="parentId")
) -> JSONResponse:
    ctx = get_ctx(request)
    return reply(ctl.insert_hierarchical(ctx, parent_id, await read_json(request)))


@router.get(ORG + "/listAssociations")
async def list_associations(
    request: Request, target_resource: str | None = Query(None, alias="targetResource")
) -> JSONResponse:
    associations = ctl.list_associations(get_ctx(request), target_resource)
    body: dict[str, Any] = {"kind": "compute#firewallPoliciesListAssociationsResponse"}
    if associations:
        body["associations"] = associations
    return reply(body)


@router.get(NET)
async def list_network_policies(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    ctx = project_ctx(request, project)
    docs = ctl.list_network_policies(ctx, project)
    return list_reply("compute#firewallPolicyList", NET.format(project=project)[1:], docs, q)


@router.post(NET)
async def insert_network_policy(project: str, request: Request) -> JSONResponse:
    ctx = project_ctx(request, project)
    return reply(ctl.insert_network_policy(ctx, project, await read_json(request)))


@router.get("/projects/{project}/aggregated/firewallPolicies")
async def aggregated_network_policies(
    project: str, request: Request, q: ListQuery = Depends(list_query)
) -> JSONResponse:
    """Global network policies under ``global`` (regional ones are not modelled)."""
    ctx = project_ctx(request, project)
    return aggregated_reply(
        "compute#networkFirewallPolicyAggregatedList",
        f"projects/{project}/aggregated/firewallPolicies",
        "firewallPolicies",
        ctl.list_network_policies(ctx, project),
        q,
        lambda _doc: "global",
    )


# One policy: the same methods for both kinds --------------------------------------------------
def _add_policy_routes(base: str, target: Callable[..., Target]) -> None:
    one = base + "/{policy}"

    async def get_policy(t: Target = Depends(target)) -> JSONResponse:
        return reply(ctl.get_policy(*t))

    async def patch_policy(request: Request, t: Target = Depends(target)) -> JSONResponse:
        return reply(ctl.patch_policy(*t, await read_json(request)))

    async def delete_policy(t: Target = Depends(target)) -> JSONResponse:
        return reply(ctl.delete_policy(*t))

    async def add_rule(
        request: Request,
        t: Target = Depends(target),
        min_priority: str | None = Query(None, alias="minPriority"),
        max_priority: str | None = Query(None, alias="maxPriority"),
    ) -> JSONResponse:
        body = await read_json(request)
        low = query_int("min_priority", min_priority)
        high = query_int("max_priority", max_priority)
        return reply(ctl.add_rule(*t, body, low, high))

    async def get_rule(
        t: Target = Depends(target), priority: str | None = Query(None)
    ) -> JSONResponse:
        return reply(ctl.get_rule(*t, query_int("priority", priority)))

    async def patch_rule(
        request: Request, t: Target = Depends(target), priority: str | None = Query(None)
    ) -> JSONResponse:
        body = await read_json(request)
        return reply(ctl.patch_rule(*t, query_int("priority", priority), body))

    async def remove_rule(
        t: Target = Depends(target), priority: str | None = Query(None)
    ) -> JSONResponse:
        return reply(ctl.remove_rule(*t, query_int("priority", priority)))

    async def add_association(
        request: Request,
        t: Target = Depends(target),
        replace: str | None = Query(None, alias="replaceExistingAssociation"),
    ) -> JSONResponse:
        body = await read_json(request)
        flag = query_bool("replace_existing_association", replace)
        return reply(ctl.add_association(*t, body, replace=flag))

    async def get_association(
        t: Target = Depends(target), name: str | None = Query(None)
    ) -> JSONResponse:
        return reply(ctl.get_association(*t, name))

    async def remove_association(
        t: Target = Depends(target), name: str | None = Query(None)
    ) -> JSONResponse:
        return reply(ctl.remove_association(*t, name))

    async def clone_rules(
        t: Target = Depends(target),
        source: str | None = Query(None, alias="sourceFirewallPolicy"),
    ) -> JSONResponse:
        return reply(ctl.clone_rules(*t, source))

    router.add_api_route(one, get_policy, methods=["GET"])
    router.add_api_route(one, patch_policy, methods=["PATCH"])
    router.add_api_route(one, delete_policy, methods=["DELETE"])
    router.add_api_route(one + "/addRule", add_rule, methods=["POST"])
    router.add_api_route(one + "/getRule", get_rule, methods=["GET"])
    router.add_api_route(one + "/patchRule", patch_rule, methods=["POST"])
    router.add_api_route(one + "/removeRule", remove_rule, methods=["POST"])
    router.add_api_route(one + "/addAssociation", add_association, methods=["POST"])
    router.add_api_route(one + "/getAssociation", get_association, methods=["GET"])
    router.add_api_route(one + "/removeAssociation", remove_association, methods=["POST"])
    router.add_api_route(one + "/cloneRules", clone_rules, methods=["POST"])


_add_policy_routes(ORG, _org_policy)
_add_policy_routes(NET, _net_policy)


@router.post(ORG + "/{policy}/move")
async def move(
    policy: str, request: Request, parent_id: str | None = Query(None, alias="parentId")
) -> JSONResponse:
    return reply(ctl.move(get_ctx(request), ctl.hierarchical(policy), parent_id))


# Operations of the organization's resources ---------------------------------------------------
OPS = "/locations/global/operations"


@router.get(OPS)
async def list_organization_operations(
    request: Request,
    parent_id: str | None = Query(None, alias="parentId"),
    q: ListQuery = Depends(list_query),
) -> JSONResponse:
    docs = ctl.list_organization_operations(get_ctx(request), parent_id)
    return list_reply("compute#operationList", OPS.lstrip("/"), docs, q)


@router.get(OPS + "/{operation}")
async def get_organization_operation(
    operation: str, request: Request, parent_id: str | None = Query(None, alias="parentId")
) -> JSONResponse:
    return reply(ctl.get_organization_operation(get_ctx(request), operation, parent_id))


@router.delete(OPS + "/{operation}")
async def delete_organization_operation(
    operation: str, request: Request, parent_id: str | None = Query(None, alias="parentId")
) -> JSONResponse:
    ctl.delete_organization_operation(get_ctx(request), operation, parent_id)
    return reply({})

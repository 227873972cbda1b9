"""The objects of one cluster's Kubernetes API, kept in the store (kube-apiserver's registry).

Reads add ``metadata.resourceVersion`` (the store revision); writes decode and validate with
the domain rules, keep ``managedFields``, place new pods in the same transaction that saves
them, and answer the way kube-apiserver does (an update that changes nothing writes nothing).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from intranode.api.kube import protobuf
from intranode.api.kube.cache import Cached, ObjectCache, output_of
from intranode.api.kube.status import already_exists, conflict, not_found
from intranode.controllers.context import Context
from intranode.controllers.pods import (
    namespace_doc,
    new_pod,
    place_pod,
    record_placement_events,
)
from intranode.domain.kube.managed import Entry, field_set, record_update, server_side_apply
from intranode.domain.kube.merge import json_patch, merge_patch, strategic_merge
from intranode.domain.kube.pods import default_pod
from intranode.domain.kube.schema import check_shape, prune
from intranode.domain.kube.types import NAMESPACES, PODS, SERVICES, ResourceType
from intranode.domain.kube.validation import (
    FieldError,
    bad_request,
    configmap_errors,
    event_errors,
    invalid,
    meta_errors,
    namespace_errors,
    pod_errors,
    pod_update_errors,
)
from intranode.domain.kube_objects import new_uid
from intranode.domain.resources import CLUSTER, k8s_key, k8s_kind, k8s_parent
from intranode.domain.timefmt import k8s_time
from intranode.errors import Aborted, InvalidArgument, PermissionDenied, Unimplemented
from intranode.store.resources import Resource

Obj = dict[str, Any]

VALIDATORS: dict[str, Callable[[Mapping[str, Any]], list[FieldError]]] = {
    "pods": pod_errors,
    "namespaces": namespace_errors,
    "configmaps": configmap_errors,
    "events": event_errors,
}
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
_SERVER_META = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
PATCH_TYPES = {
    "application/strategic-merge-patch+json": "strategic",
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
}


@dataclass(frozen=True)
class WriteOptions:
    manager: str = ""
    dry_run: bool = False
    validation: str = "Warn"  # Strict | Warn | Ignore (the server's default is Warn)
    force: bool = False
    # Apply needs a manager the client named; others default to the user agent's first word.
    manager_named: bool = False


@dataclass
class WriteResult:
    obj: Obj
    created: bool = False
    warnings: list[str] = field(default_factory=list)


def qualified(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def parse_body(raw: bytes, content_type: str, kind: str) -> Any:
    """A request body as JSON (or YAML when the content type says so), or a 400."""
    if "protobuf" in content_type:
        return protobuf.decode(raw)
    if "cbor" in content_type:
        raise InvalidArgument(
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml",
            reason="UnsupportedMediaType",
        )
    text = raw.decode("utf-8", errors="replace")
    if "yaml" in content_type:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise bad_request(f"error converting YAML to JSON: yaml: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_request(
            f"the object provided is unrecognized (must be of type {kind}): couldn't get "
            f"version/kind; json parse error: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


class ClusterObjects:
    def __init__(self, ctx: Context, cluster_key: str, cache: ObjectCache) -> None:
        self.ctx = ctx
        self.cluster = cluster_key
        self.cache = cache

    # -- addressing -------------------------------------------------------------------------
    def key(self, rt: ResourceType, name: str, ns: str | None) -> str:
        return k8s_key(self.cluster, rt.plural, name, ns if rt.namespaced else None)

    def parent(self, rt: ResourceType, ns: str | None) -> str:
        return k8s_parent(self.cluster, ns if rt.namespaced else None)

    @staticmethod
    def output(res: Resource) -> Obj:
        """The stored document as the API returns it (a copy carrying its resourceVersion)."""
        return output_of(res)

    # -- reads ------------------------------------------------------------------------------
    def read(self, rt: ResourceType, ns: str | None, name: str) -> Resource:
        res = self.ctx.resources.get(k8s_kind(rt.plural), self.key(rt, name, ns))
        if res is None:
            raise not_found(rt.plural, name, rt.group)
        return res

    def get(self, rt: ResourceType, ns: str | None, name: str) -> Obj:
        if rt is SERVICES:
            for svc in self.list_objects(rt, ns)[0]:
                if svc["metadata"]["name"] == name:
                    return svc
            raise not_found(rt.plural, name)
        return self.output(self.read(rt, ns, name))

    def list_entries(self, rt: ResourceType, ns: str | None) -> tuple[list[Cached], int]:
        """Every object of a type (in one namespace, or all) from the object cache, ordered by
        key, and the revision the list is current at."""
        kind = k8s_kind(rt.plural)
        if not rt.namespaced:
            return self.cache.entries(kind, parent=self.cluster)
        if ns:
            return self.cache.entries(kind, parent=self.parent(rt, ns))
        return self.cache.entries(kind, parent_prefix=k8s_parent(self.cluster, ""))

    def list_objects(self, rt: ResourceType, ns: str | None) -> tuple[list[Obj], int]:
        entries, revision = self.list_entries(rt, ns)
        items = [e.obj for e in entries]
        if rt is SERVICES and ns in (None, "", "default"):
            default = self._kubernetes_service(revision)
            if default and not any(s["metadata"]["name"] == "kubernetes" for s in items):
                items.insert(0, default)
        return items, revision

    def _kubernetes_service(self, revision: int) -> Obj | None:
        """The ``default/kubernetes`` service every cluster has (its first service address)."""
        cluster = self.ctx.resources.get(CLUSTER, self.cluster)
        if cluster is None:
            return None
        cidr = str(cluster.data.get("servicesIpv4Cidr") or "")
        try:
            ip = str(ipaddress.ip_network(cidr, strict=False).network_address + 1)
        except ValueError:
            return None
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "uid": new_uid(),
                "resourceVersion": str(revision),
                "creationTimestamp": k8s_time(cluster.created),
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": ip,
                "clusterIPs": [ip],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster",
            },
            "status": {"loadBalancer": {}},
        }

    # -- decoding ---------------------------------------------------------------------------
    def _decode(self, rt: ResourceType, body: Any, opts: WriteOptions, warnings: list[str]) -> Obj:
        if not isinstance(body, dict):
            raise bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get "
                "version/kind; json parse error: expected an object"
            )
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if kind not in (None, "", rt.kind):
            raise bad_request(
                f"the kind of the object ({kind}) does not match the kind of the resource "
                f"({rt.kind})"
            )
        if api_version not in (None, "", rt.group_version):
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.group_version})"
            )
        report = check_shape(body, rt.kind)
        prefix = f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}'
        if report.type_error:
            raise bad_request(f"{prefix}: {report.type_error}")
        if report.unknown and opts.validation == "Strict":
            listed = ", ".join(f'unknown field "{f}"' for f in report.unknown)
            raise bad_request(f"{prefix}: strict decoding error: {listed}")
        if report.unknown and opts.validation == "Warn":
            warnings += [f'unknown field "{f}"' for f in report.unknown]
        pruned: Obj = prune(body, rt.kind) if report.unknown else body
        return copy.deepcopy(pruned)

    @staticmethod
    def _writable(rt: ResourceType) -> None:
        if rt.read_only:
            raise Unimplemented(
                "the server does not allow this method on the requested resource",
                reason="MethodNotAllowed",
                details=[{}],
            )

    def _validate(self, rt: ResourceType, obj: Obj) -> None:
        errs = VALIDATORS.get(rt.plural, meta_errors)(obj)
        if errs:
            raise invalid(rt.kind, str(obj["metadata"].get("name", "")), errs)

    # -- create -----------------------------------------------------------------------------
    def create(
        self,
        rt: ResourceType,
        ns: str | None,
        body: Any,
        opts: WriteOptions,
        *,
        applied: Obj | None = None,
    ) -> WriteResult:
        self._writable(rt)
        warnings: list[str] = []
        obj = self._decode(rt, body, opts, warnings)
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", ns):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
            meta["name"] = f"{meta['generateName']}{suffix}"
        for k in _SERVER_META:
            meta.pop(k, None)
        obj["apiVersion"], obj["kind"] = rt.group_version, rt.kind
        self._validate(rt, obj)
        name = str(meta["name"])
        now = self.ctx.clock()
        if rt is PODS:
            obj.pop("status", None)
            obj = new_pod(self.ctx, obj, str(ns))
        else:
            meta.setdefault("uid", new_uid())
            meta.setdefault("creationTimestamp", k8s_time(now))
        if rt is NAMESPACES:
            base = namespace_doc(name, now)
            obj["metadata"]["labels"] = {**base["metadata"]["labels"], **(meta.get("labels") or {})}
            obj["spec"], obj["status"] = base["spec"], base["status"]
        store = self.ctx.resources
        with store.transaction():
            if rt.namespaced:
                home = store.get(
                    k8s_kind("namespaces"), k8s_key(self.cluster, "namespaces", str(ns))
                )
                if home is None:
                    raise not_found("namespaces", str(ns))
                if (home.data.get("status") or {}).get("phase") == "Terminating":
                    raise PermissionDenied(
                        f'{qualified(rt)} "{name}" is forbidden: unable to create new content in '
                        f"namespace {ns} because it is being terminated",
                        reason="Forbidden",
                        details=[{"name": name, "kind": rt.plural}],
                    )
            key = self.key(rt, name, ns)
            if store.get(k8s_kind(rt.plural), key) is not None:
                raise already_exists(rt.plural, name, rt.group)
            if applied is not None:
                entry = Entry(
                    opts.manager, "Apply", rt.group_version, k8s_time(now), field_set(applied)
                )
                obj["metadata"]["managedFields"] = [entry.render()]
            else:
                obj = record_update(
                    None, obj, opts.manager, k8s_time(now), api_version=rt.group_version
                )
            if rt is PODS:
                # After the managed fields: the node is the scheduler's choice, not the client's.
                obj = place_pod(self.ctx, self.cluster, obj)
            if opts.dry_run:
                return WriteResult(obj, True, warnings)
            res = store.create(k8s_kind(rt.plural), key, self.parent(rt, ns), obj)
            if rt is PODS:
                record_placement_events(self.ctx, self.cluster, res.data)
        return WriteResult(self.output(res), True, warnings)

    # -- update -----------------------------------------------------------------------------
    def _commit(
        self,
        rt: ResourceType,
        res: Resource,
        new: Obj,
        opts: WriteOptions,
        warnings: list[str],
        *,
        record: bool = True,
        subresource: str = "",
    ) -> WriteResult:
        old = self.output(res)
        old_meta = old["metadata"]
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        name = str(old_meta.get("name"))
        rv = meta.get("resourceVersion")
        if rv and str(rv) != old_meta["resourceVersion"]:
            raise conflict(rt.plural, name, rt.group)
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") not in (None, "", old_meta.get("namespace")):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        if subresource == "status":
            result = {**old, "status": new.get("status")}
        else:
            result = {**new, "apiVersion": rt.group_version, "kind": rt.kind}
            result["metadata"] = {
                **meta,
                **{k: old_meta[k] for k in ("name", "uid", "creationTimestamp") if k in old_meta},
            }
            if rt.namespaced:
                result["metadata"]["namespace"] = old_meta.get("namespace")
            if "status" in old:
                result["status"] = old["status"]
            else:
                result.pop("status", None)
            if rt is PODS:
                result = default_pod(result)
                errs = pod_update_errors(old, result)
                if errs:
                    raise invalid(rt.kind, name, errs)
            else:
                self._validate(rt, result)
        now = k8s_time(self.ctx.clock())
        if record:
            result = record_update(
                old,
                result,
                opts.manager,
                now,
                api_version=rt.group_version,
                subresource=subresource,
            )
        result["metadata"] = {k: v for k, v in result["metadata"].items() if k != "resourceVersion"}
        unchanged = {
            **old,
            "metadata": {k: v for k, v in old_meta.items() if k != "resourceVersion"},
        }
        if result == unchanged:
            return WriteResult(old, False, warnings)
        if opts.dry_run:
            return WriteResult(
                {
                    **result,
                    "metadata": {
                        **result["metadata"],
                        "resourceVersion": old_meta["resourceVersion"],
                    },
                },
                False,
                warnings,
            )
        try:
            stored = self.ctx.resources.update(
                k8s_kind(rt.plural), res.key, result, expect_revision=res.revision
            )
        except Aborted as exc:
            raise conflict(rt.plural, name, rt.group) from exc
        return WriteResult(self.output(stored), False, warnings)

    def replace(
        self,
        rt: ResourceType,
        ns: str | None,
        name: str,
        body: Any,
        opts: WriteOptions,
        *,
        subresource: str = "",
    ) -> WriteResult:
        self._writable(rt)
        warnings: list[str] = []
        new = self._decode(rt, body, opts, warnings)
        meta = new.get("metadata")
        if isinstance(meta, dict) and meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})"
            )
        with self.ctx.resources.transaction():
            res = self.read(rt, ns, name)
            return self._commit(rt, res, new, opts, warnings, subresource=subresource)

    def patch(
        self,
        rt: ResourceType,
        ns: str | None,
        name: str,
        patch_type: str,
        raw: bytes,
        opts: WriteOptions,
        *,
        subresource: str = "",
    ) -> WriteResult:
        self._writable(rt)
        if patch_type == "apply":
            return self.apply(rt, ns, name, raw, opts)
        try:
            patch = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise bad_request(f"error decoding patch: {exc}") from exc
        if patch_type != "json" and not isinstance(patch, dict):
            raise bad_request(
                "json: cannot unmarshal array into Go value of type map[string]interface {}"
            )
        warnings: list[str] = []
        with self.ctx.resources.transaction():
            res = self.read(rt, ns, name)
            current = self.output(res)
            if patch_type == "strategic":
                new = strategic_merge(current, patch)
            elif patch_type == "merge":
                new = merge_patch(current, patch)
            else:
                new = json_patch(current, patch)
            new = self._decode(rt, new, opts, warnings)
            return self._commit(rt, res, new, opts, warnings, subresource=subresource)

    def apply(
        self, rt: ResourceType, ns: str | None, name: str, raw: bytes, opts: WriteOptions
    ) -> WriteResult:
        """Server-side apply: create the object, or merge the applied configuration into it."""
        if not opts.manager_named:
            raise bad_request("fieldManager is required for apply requests")
        applied = parse_body(raw, "yaml", rt.kind)
        if not isinstance(applied, dict):
            raise bad_request("invalid object: the applied configuration must be an object")
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise bad_request(
                "invalid object type: the applied configuration must set apiVersion and kind"
            )
        meta = applied.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})"
            )
        warnings: list[str] = []
        applied = self._decode(rt, applied, opts, warnings)
        store = self.ctx.resources
        with store.transaction():
            res = store.get(k8s_kind(rt.plural), self.key(rt, name, ns))
            if res is None:
                body = {**applied, "metadata": {**meta, "name": name}}
                result = self.create(rt, ns, body, opts, applied=applied)
                result.warnings = warnings + result.warnings
                return result
            now = k8s_time(self.ctx.clock())
            merged = server_side_apply(
                self.output(res), applied, opts.manager, now, force=opts.force
            )
            return self._commit(rt, res, merged, opts, warnings, record=False)

    # -- delete -----------------------------------------------------------------------------
    def purge_namespace(self, name: str) -> None:
        """Delete a Terminating namespace and every object kept in it, of any kind."""
        store = self.ctx.resources
        with store.transaction():
            res = store.get(k8s_kind("namespaces"), k8s_key(self.cluster, "namespaces", name))
            if res is None or (res.data.get("status") or {}).get("phase") != "Terminating":
                return
            inside = k8s_parent(self.cluster, name)
            for kind in store.kinds("k8s."):
                for child in store.find(kind, parent=inside):
                    store.delete(child.kind, child.key)
            store.delete(res.kind, res.key)

    def purge_terminating(self) -> None:
        """Finish namespace deletions a stopped daemon left behind."""
        for res in self.ctx.resources.find(k8s_kind("namespaces"), parent=self.cluster):
            if (res.data.get("status") or {}).get("phase") == "Terminating":
                self.purge_namespace(str(res.data["metadata"]["name"]))

    def delete(
        self, rt: ResourceType, ns: str | None, name: str, options: Mapping[str, Any], dry_run: bool
    ) -> Obj:
        """Delete now (no finalizers); answer with the object (pods, namespaces) or a Status."""
        self._writable(rt)
        store = self.ctx.resources
        with store.transaction():
            res = self.read(rt, ns, name)
            meta = res.data.get("metadata") or {}
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise Aborted(
                    f'Operation cannot be fulfilled on {qualified(rt)} "{name}": Precondition '
                    f"failed: UID in precondition: {pre['uid']}, UID in object meta: "
                    f"{meta.get('uid')}",
                    reason="Conflict",
                )
            if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(res.revision):
                raise Aborted(
                    f'Operation cannot be fulfilled on {qualified(rt)} "{name}": Precondition '
                    f"failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {res.revision}",
                    reason="Conflict",
                )
            if rt is NAMESPACES and name in PROTECTED_NAMESPACES:
                raise PermissionDenied(
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    reason="Forbidden",
                    details=[{"name": name, "kind": "namespaces"}],
                )
            out = self.output(res)
            if dry_run:
                return out
            if rt is NAMESPACES:
                # Terminating first, emptied a moment later (``purge_namespace``), as kube's
                # namespace controller does: ``kubectl delete -f`` of a namespace and what is
                # in it then deletes every object instead of finding some already gone.
                doc = copy.deepcopy(res.data)
                doc["metadata"]["deletionTimestamp"] = k8s_time(self.ctx.clock())
                doc["status"] = {"phase": "Terminating"}
                return self.output(store.update(res.kind, res.key, doc))
            gone = store.delete(res.kind, res.key)
        if gone is not None:
            out["metadata"]["resourceVersion"] = str(gone.revision)
        if rt is PODS:
            out["metadata"]["deletionTimestamp"] = k8s_time(self.ctx.clock())
            out["metadata"]["deletionGracePeriodSeconds"] = 0
            return out
        details: Obj = {"name": name, "kind": rt.plural, "uid": meta.get("uid", "")}
        if rt.group:
            details["group"] = rt.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

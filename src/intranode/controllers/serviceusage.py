"""Service Usage: which Google APIs a project has enabled, and the refusal when one is not.

Contract other controllers rely on: ``require_enabled(ctx, project, service)`` raises
``PermissionDenied`` exactly as Google does when ``service`` is disabled in ``project``
(the message gcloud recognises to offer enabling it, reason ``accessNotConfigured``, and an
``ErrorInfo`` with reason ``SERVICE_DISABLED``).

Each service of a project is a ``serviceusage.service`` resource holding the ``Service`` as the
API returns it. Enabling a service enables the services it depends on (as on Google); disabling
one that others depend on needs ``disableDependentServices``, and one used in the last 30 days
(a call that passed :func:`require_enabled`) needs ``checkIfServiceHasUsage`` not ``CHECK``.
Names use the project number, as Google's do; requests may use the id or the number.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from intranode.controllers.context import Context
from intranode.domain.resources import SERVICE, SERVICE_OPERATION, project_key, project_number
from intranode.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

TYPE_PREFIX = "type.googleapis.com/google.api.serviceusage.v1."
NOOP_OPERATION = "operations/noop.DONE_OPERATION"
USAGE_WINDOW = 30 * 24 * 3600.0
# A use is recorded at most this often per service, so require_enabled stays a read.
USAGE_RESOLUTION = 3600.0
MAX_PAGE_SIZE = 200
MAX_BATCH = 20


@dataclass(frozen=True)
class ServiceInfo:
    title: str
    summary: str
    requires: tuple[str, ...] = ()


_GKE_REQUIRES = (
    "compute.googleapis.com",
    "oslogin.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "artifactregistry.googleapis.com",
    "containerregistry.googleapis.com",
    "pubsub.googleapis.com",
    "autoscaling.googleapis.com",
    "dns.googleapis.com",
    "networkconnectivity.googleapis.com",
)

CATALOG: dict[str, ServiceInfo] = {
    "compute.googleapis.com": ServiceInfo(
        "Compute Engine API",
        "Creates and runs virtual machines, networks and firewalls.",
        ("oslogin.googleapis.com",),
    ),
    "container.googleapis.com": ServiceInfo(
        "Kubernetes Engine API",
        "Builds and manages clusters that run containerized applications on Kubernetes.",
        _GKE_REQUIRES,
    ),
    "logging.googleapis.com": ServiceInfo(
        "Cloud Logging API", "Writes and reads log entries, such as VPC Flow Logs."
    ),
    "monitoring.googleapis.com": ServiceInfo(
        "Cloud Monitoring API", "Manages metrics, dashboards and alerting."
    ),
    "serviceusage.googleapis.com": ServiceInfo(
        "Service Usage API", "Lists, enables and disables the services a project uses."
    ),
    "networkmanagement.googleapis.com": ServiceInfo(
        "Network Management API",
        "Connectivity Tests and VPC Flow Logs configurations.",
        ("compute.googleapis.com",),
    ),
    "oslogin.googleapis.com": ServiceInfo(
        "Cloud OS Login API", "Manages access to VM instances with IAM roles."
    ),
    "iam.googleapis.com": ServiceInfo(
        "Identity and Access Management (IAM) API",
        "Manages identity and access control for Google Cloud resources.",
    ),
    "iamcredentials.googleapis.com": ServiceInfo(
        "IAM Service Account Credentials API",
        "Creates short-lived credentials for service accounts.",
    ),
    "artifactregistry.googleapis.com": ServiceInfo(
        "Artifact Registry API", "Stores and manages container images and packages."
    ),
    "containerregistry.googleapis.com": ServiceInfo(
        "Container Registry API", "Stores container images (superseded by Artifact Registry)."
    ),
    "pubsub.googleapis.com": ServiceInfo(
        "Cloud Pub/Sub API", "Asynchronous messaging between applications."
    ),
    "autoscaling.googleapis.com": ServiceInfo(
        "Cloud Autoscaling API", "Autoscaling of node pools and instance groups."
    ),
    "dns.googleapis.com": ServiceInfo("Cloud DNS API", "Managed DNS zones and records."),
    "networkconnectivity.googleapis.com": ServiceInfo(
        "Network Connectivity API", "Hubs and spokes connecting networks."
    ),
    "networksecurity.googleapis.com": ServiceInfo(
        "Network Security API", "Firewall endpoints and security profiles."
    ),
    "cloudresourcemanager.googleapis.com": ServiceInfo(
        "Cloud Resource Manager API", "Projects, folders and organizations."
    ),
    "storage.googleapis.com": ServiceInfo("Cloud Storage API", "Object storage."),
    "bigquery.googleapis.com": ServiceInfo("BigQuery API", "Data warehouse and analytics."),
    "cloudtrace.googleapis.com": ServiceInfo("Cloud Trace API", "Distributed tracing."),
}

SEED_SERVICES = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "serviceusage.googleapis.com",
    "networkmanagement.googleapis.com",
)


# -- projects and names ---------------------------------------------------------------------
def resolve_project(ctx: Context, project: str) -> str:
    """The project id for an id or a number (the daemon's project is known by both)."""
    if project == project_number(ctx.settings.project):
        return ctx.settings.project
    return project


def number_of(ctx: Context, project: str) -> str:
    """The number Google shows for a project; a project given only by number keeps it."""
    pid = resolve_project(ctx, project)
    return pid if pid.isdigit() else project_number(pid)


def _service_key(project_id: str, service: str) -> str:
    return f"{project_key(project_id)}/services/{service}"


def _service_doc(ctx: Context, project_id: str, service: str, state: str) -> dict[str, Any]:
    info = CATALOG[service]
    parent = f"projects/{number_of(ctx, project_id)}"
    return {
        "name": f"{parent}/services/{service}",
        "config": {
            "name": service,
            "title": info.title,
            "documentation": {"summary": info.summary},
            "usage": {"requirements": ["serviceusage.googleapis.com/tos/cloud"]},
        },
        "state": state,
        "parent": parent,
    }


def _known(services: Iterable[str]) -> None:
    # Escaped lone surrogates (from a JSON \ud800) so that the error can be sent back.
    unknown = [s.encode("utf-8", "backslashreplace").decode() for s in services if s not in CATALOG]
    if unknown:
        raise PermissionDenied(
            f"Not found or permission denied for service(s): {', '.join(unknown)}.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED",
                    "domain": "serviceusage.googleapis.com",
                    "metadata": {"services": ",".join(unknown)},
                }
            ],
        )


def _state(ctx: Context, project_id: str, service: str) -> str:
    res = ctx.resources.get(SERVICE, _service_key(project_id, service))
    return "DISABLED" if res is None else str(res.data.get("state", "DISABLED"))


def _set_state(ctx: Context, project_id: str, services: Iterable[str], state: str) -> None:
    with ctx.resources.transaction():
        for service in services:
            doc = _service_doc(ctx, project_id, service, state)
            ctx.resources.put(
                SERVICE, _service_key(project_id, service), project_key(project_id), doc
            )


def _closure(service: str) -> list[str]:
    """The service and everything it needs, each once, dependencies first."""
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out:
            return
        for dep in CATALOG[name].requires:
            visit(dep)
        out.append(name)

    visit(service)
    return out


# -- seeding ----------------------------------------------------------------------------------
def seed_project(ctx: Context, project: str) -> None:
    """Enable the default services once per project; a later start leaves the user's choices."""
    if ctx.resources.find(SERVICE, project_key(project)):
        return
    wanted: list[str] = []
    for service in SEED_SERVICES:
        wanted.extend(s for s in _closure(service) if s not in wanted)
    _set_state(ctx, project, wanted, "ENABLED")


# -- reads ------------------------------------------------------------------------------------
def get_service(ctx: Context, project: str, service: str) -> dict[str, Any]:
    _known([service])
    pid = resolve_project(ctx, project)
    return _service_doc(ctx, pid, service, _state(ctx, pid, service))


def list_services(
    ctx: Context, project: str, filter_: str, page_size: int, page_token: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Services of the project (all known ones, or those in the state the filter names)."""
    wanted = _state_filter(filter_)
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise InvalidArgument(f"Invalid page_size {page_size}: must be between 0 and 200.")
    size = page_size or 50
    start = _offset(page_token)
    pid = resolve_project(ctx, project)
    docs = [_service_doc(ctx, pid, s, _state(ctx, pid, s)) for s in sorted(CATALOG)]
    if wanted is not None:
        docs = [d for d in docs if d["state"] == wanted]
    page = docs[start : start + size]
    more = start + size < len(docs)
    return page, _token(start + size) if more else None


def batch_get(ctx: Context, project: str, names: list[str]) -> list[dict[str, Any]]:
    services = [n.rsplit("/services/", 1)[-1] for n in names]
    _known(services)
    pid = resolve_project(ctx, project)
    return [_service_doc(ctx, pid, s, _state(ctx, pid, s)) for s in services]


def _state_filter(filter_: str) -> str | None:
    text = filter_.strip()
    if not text:
        return None
    key, sep, value = text.partition(":")
    if sep and key.strip() == "state" and value.strip().upper() in ("ENABLED", "DISABLED"):
        return value.strip().upper()
    raise InvalidArgument(
        f'Invalid filter "{filter_}": the only filters are state:ENABLED and state:DISABLED.'
    )


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f'Invalid page token "{token}".') from exc
    if value < 0:
        raise InvalidArgument(f'Invalid page token "{token}".')
    return value


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


# -- changes ----------------------------------------------------------------------------------
def enable(ctx: Context, project: str, services: list[str], *, batch: bool) -> dict[str, Any]:
    """Enable services (and what they need); the Operation, not yet done when it did
    something, as Google answers (the change is made already; a GET shows it done)."""
    if batch and not 1 <= len(services) <= MAX_BATCH:
        raise InvalidArgument(
            f"serviceIds must name between 1 and {MAX_BATCH} services, not {len(services)}."
        )
    _known(services)
    pid = resolve_project(ctx, project)
    changed: list[str] = []
    for service in services:
        changed.extend(
            s for s in _closure(service) if s not in changed and _state(ctx, pid, s) != "ENABLED"
        )
    _set_state(ctx, pid, changed, "ENABLED")
    docs = [_service_doc(ctx, pid, s, "ENABLED") for s in services]
    response: dict[str, Any]
    if batch:
        response = {"@type": TYPE_PREFIX + "BatchEnableServicesResponse", "services": docs}
    else:
        response = {"@type": TYPE_PREFIX + "EnableServiceResponse", "service": docs[0]}
    return done_operation(ctx, pid, "acf", changed, docs, response)


def disable(
    ctx: Context,
    project: str,
    service: str,
    *,
    disable_dependents: bool,
    check_usage: bool,
) -> dict[str, Any]:
    _known([service])
    pid = resolve_project(ctx, project)
    doc = _service_doc(ctx, pid, service, "DISABLED")
    response = {"@type": TYPE_PREFIX + "DisableServiceResponse", "service": doc}
    if _state(ctx, pid, service) != "ENABLED":
        return done_operation(ctx, pid, "acat", [], [doc], response)
    dependents = [
        s
        for s in sorted(CATALOG)
        if s != service and service in _closure(s) and _state(ctx, pid, s) == "ENABLED"
    ]
    if dependents and not disable_dependents:
        raise FailedPrecondition(
            f"The service {service} is depended on by the following active service(s): "
            f"{','.join(dependents)}; Please specify disable_dependent_services=true if you "
            "want to proceed with disabling all services.",
            details=[
                _error_info(
                    "COMMON_SU_SERVICE_HAS_DEPENDENT_SERVICES",
                    "serviceusage.googleapis.com",
                    {"service_name": service, "services": ",".join(dependents)},
                )
            ],
        )
    if check_usage:
        now = ctx.clock()
        for name in (service, *dependents):
            used = _last_used(ctx, pid, name)
            if used is not None and now - used < USAGE_WINDOW:
                raise FailedPrecondition(
                    f"The service {name} has usage in the last 30 days. Please specify "
                    "check_if_service_has_usage=SKIP if you want to proceed with disabling "
                    "the service.",
                    details=[
                        _error_info(
                            "COMMON_SU_SERVICE_HAS_USAGE",
                            "serviceusage.googleapis.com",
                            {"service_name": name},
                        )
                    ],
                )
    _set_state(ctx, pid, [service, *dependents], "DISABLED")
    return done_operation(ctx, pid, "acat", [service, *dependents], [doc], response)


def done_operation(
    ctx: Context,
    project_id: str,
    kind: str,
    changed: list[str],
    docs: list[dict[str, Any]],
    response: dict[str, Any],
) -> dict[str, Any]:
    if not changed:
        return {"name": NOOP_OPERATION, "done": True, "response": response}
    name = f"operations/{kind}.p2-{number_of(ctx, project_id)}-{uuid.uuid4()}"
    metadata = {
        "@type": TYPE_PREFIX + "OperationMetadata",
        "resourceNames": [d["name"] for d in docs],
    }
    done = {"name": name, "metadata": metadata, "done": True, "response": response}
    ctx.resources.create(SERVICE_OPERATION, name, "", done)
    return {"name": name, "metadata": metadata}


def get_operation(ctx: Context, name: str) -> dict[str, Any]:
    if name == NOOP_OPERATION:
        return {"name": NOOP_OPERATION, "done": True}
    res = ctx.resources.get(SERVICE_OPERATION, name)
    if res is None:
        raise NotFound(f"Operation {name} not found.")
    return res.data


# -- the check other APIs make ----------------------------------------------------------------
def require_enabled(ctx: Context, project: str, service: str) -> None:
    """Refuse, as Google does, a call to ``service`` when the project has it disabled."""
    pid = resolve_project(ctx, project)
    if _state(ctx, pid, service) == "ENABLED":
        _record_use(ctx, pid, service)
        return
    number = number_of(ctx, pid)
    info = CATALOG.get(service)
    title = info.title if info is not None else service
    url = f"https://console.developers.google.com/apis/api/{service}/overview?project={number}"
    message = (
        f"{title} has not been used in project {number} before or it is disabled. Enable it by "
        f"visiting {url} then retry. If you enabled this API recently, wait a few minutes for "
        "the action to propagate to our systems and retry."
    )
    raise PermissionDenied(
        message,
        reason="accessNotConfigured",
        details=[
            _error_info(
                "SERVICE_DISABLED",
                "googleapis.com",
                {
                    "service": service,
                    "consumer": f"projects/{number}",
                    "activationUrl": url,
                    "serviceTitle": title,
                    "containerInfo": number,
                },
            ),
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": url}],
            },
        ],
    )


def _error_info(reason: str, domain: str, metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": domain,
        "metadata": metadata,
    }


def _usage_key(project_id: str, service: str) -> str:
    return f"serviceusage.lastUsed/{project_id}/{service}"


def _last_used(ctx: Context, project_id: str, service: str) -> float | None:
    value = ctx.db.get_meta(_usage_key(project_id, service))
    return None if value is None else float(json.loads(value))


def _record_use(ctx: Context, project_id: str, service: str) -> None:
    now = ctx.clock()
    last = _last_used(ctx, project_id, service)
    if last is None or now - last >= USAGE_RESOLUTION:
        ctx.db.set_meta(_usage_key(project_id, service), json.dumps(now))

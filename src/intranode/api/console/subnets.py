"""VPC network → Subnets: every subnet with its flow-log state, and per subnet the flow-log
form (on/off, aggregation interval, sample rate, metadata, filter expression).

Saving sends the PATCH body ``gcloud compute networks subnets update`` would send (with the
subnet's fingerprint from when the page was drawn) through
:func:`intranode.controllers.compute.patch_subnetwork`, so every rule and message is the API's.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from intranode.api.console.forms import read_form
from intranode.api.console.html import (
    csrf_input,
    errors_for,
    field_error,
    form_error,
    h,
    invalid_attrs,
    options,
    page,
)
from intranode.api.console.session import csrf_value
from intranode.api.deps import CtxDep
from intranode.controllers import compute
from intranode.controllers.context import Context
from intranode.domain import resources as R
from intranode.domain.compute_subnets import (
    AGGREGATION_INTERVALS,
    FLOW_LOG_DEFAULTS,
    METADATA_MODES,
)
from intranode.errors import ApiError

router = APIRouter()

BASE = "/console/networking/subnets"
INTERVAL_LABELS = {
    "INTERVAL_5_SEC": "5 seconds",
    "INTERVAL_30_SEC": "30 seconds",
    "INTERVAL_1_MIN": "1 minute",
    "INTERVAL_5_MIN": "5 minutes",
    "INTERVAL_10_MIN": "10 minutes",
    "INTERVAL_15_MIN": "15 minutes",
}
METADATA_LABELS = {
    "INCLUDE_ALL_METADATA": "Include all metadata",
    "EXCLUDE_ALL_METADATA": "Exclude all metadata",
    "CUSTOM_METADATA": "Custom metadata",
}
# Which field a refusal of the Compute API is about: its message names the field.
FIELDS = (
    (r"logConfig\.aggregationInterval|log_config\.aggregation_interval", "interval"),
    (r"logConfig\.flowSampling|log_config\.flow_sampling", "sampling"),
    (r"logConfig\.metadataFields|log_config\.metadata_fields", "metadata_fields"),
    (r"logConfig\.metadata|log_config\.metadata", "metadata"),
    (r"logConfig\.filterExpr|log_config\.filter_expr|filterExpr", "filter_expr"),
    (r"enableFlowLogs|logConfig\.enable", "enable"),
)


def _path(region: str, name: str) -> str:
    return f"{BASE}/{urllib.parse.quote(region)}/{urllib.parse.quote(name)}"


@router.get(BASE)
def list_page(ctx: CtxDep, network: str = "") -> HTMLResponse:
    project = ctx.settings.project
    compute.require_project(ctx, project)
    subnets = compute.list_documents(ctx, R.SUBNETWORK, f"projects/{project}/regions/")
    rows = []
    for s in subnets:
        net = str(s.get("network", "")).rsplit("/", 1)[-1]
        if network and net != network:
            continue
        region = str(s.get("region", "")).rsplit("/", 1)[-1]
        on = bool((s.get("logConfig") or {}).get("enable", s.get("enableFlowLogs")))
        rows.append(
            f'<tr><td><a href="{h(_path(region, s["name"]))}">{h(s["name"])}</a></td>'
            f"<td>{h(region)}</td><td>{h(net)}</td><td>{h(s.get('ipCidrRange', ''))}</td>"
            f"<td>{h(', '.join(r['ipCidrRange'] for r in s.get('secondaryIpRanges') or []))}"
            f"</td><td><span class='flag {'on' if on else 'off'}'>{'On' if on else 'Off'}"
            "</span></td></tr>"
        )
    body = (
        "<h1>Subnets</h1><p>Flow logs record the connections that cross the VPC network, "
        "per subnet. Click a subnet to turn them on or off.</p>"
        "<table id=subnets><caption>Subnets in the project</caption><thead><tr>"
        "<th scope=col>Name</th><th scope=col>Region</th><th scope=col>Network</th>"
        "<th scope=col>Internal IP range</th><th scope=col>Secondary IP ranges</th>"
        f"<th scope=col>Flow logs</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return page("Subnets", body, project=project, active="subnets")


@dataclass(frozen=True)
class FlowLogForm:
    enable: bool
    interval: str
    sampling: str
    metadata: str
    metadata_fields: str
    filter_expr: str
    fingerprint: str

    @classmethod
    def of(cls, subnet: dict[str, Any]) -> FlowLogForm:
        lc = {**FLOW_LOG_DEFAULTS, **(subnet.get("logConfig") or {})}
        return cls(
            enable=bool(lc.get("enable", subnet.get("enableFlowLogs", False))),
            interval=str(lc["aggregationInterval"]),
            sampling=repr(float(lc["flowSampling"])).removesuffix(".0"),
            metadata=str(lc["metadata"]),
            metadata_fields=", ".join(lc.get("metadataFields") or []),
            filter_expr=str(lc.get("filterExpr", "")),
            fingerprint=str(subnet.get("fingerprint", "")),
        )

    @classmethod
    def parse(cls, fields: dict[str, str]) -> FlowLogForm:
        return cls(
            enable=fields.get("enable") == "on",
            interval=fields.get("interval", ""),
            sampling=fields.get("sampling", "").strip(),
            metadata=fields.get("metadata", ""),
            metadata_fields=fields.get("metadata_fields", ""),
            filter_expr=fields.get("filter_expr", ""),
            fingerprint=fields.get("fingerprint", ""),
        )

    def patch_body(self) -> dict[str, Any]:
        """What ``gcloud compute networks subnets update`` sends for these settings. Turning
        flow logs off sends only that: the API keeps the other settings for next time."""
        if not self.enable:
            return {"fingerprint": self.fingerprint, "logConfig": {"enable": False}}
        lc: dict[str, Any] = {
            "enable": True,
            "aggregationInterval": self.interval,
            # A decimal string is a number in proto3 JSON; the API says what else is wrong.
            "flowSampling": self.sampling,
            "metadata": self.metadata,
            "filterExpr": self.filter_expr.strip(),
        }
        # The API keeps the fields across a change of mode; they apply to custom metadata.
        if self.metadata == "CUSTOM_METADATA":
            lc["metadataFields"] = [f.strip() for f in self.metadata_fields.split(",") if f.strip()]
        return {"fingerprint": self.fingerprint, "logConfig": lc}


@router.get(BASE + "/{region}/{name}")
def edit_page(ctx: CtxDep, region: str, name: str, saved: str = "") -> HTMLResponse:
    subnet = _subnet(ctx, region, name)
    note = "<p class=saved role=status>Saved.</p>" if saved else ""
    return _form(ctx, region, subnet, FlowLogForm.of(subnet), {}, note=note)


@router.post(BASE + "/{region}/{name}")
async def save(ctx: CtxDep, request: Request, region: str, name: str) -> Response:
    form = FlowLogForm.parse(await read_form(request))
    try:
        compute.patch_subnetwork(ctx, ctx.settings.project, region, name, form.patch_body())
    except ApiError as err:
        subnet = _subnet(ctx, region, name)
        if err.code == 412:  # changed meanwhile: show what it is now, with the API's words
            return _form(
                ctx, region, subnet, FlowLogForm.of(subnet), {"_form": err.message}, status=412
            )
        # Keep what the user typed, with the fingerprint the page had.
        return _form(ctx, region, subnet, form, errors_for(err, FIELDS), status=err.code)
    return RedirectResponse(_path(region, name) + "?saved=1", status_code=303)


def _subnet(ctx: Context, region: str, name: str) -> dict[str, Any]:
    compute.require_project(ctx, ctx.settings.project)
    return compute.get_document(
        ctx, R.SUBNETWORK, R.subnetwork_key(ctx.settings.project, region, name)
    )


def _form(
    ctx: Context,
    region: str,
    subnet: dict[str, Any],
    form: FlowLogForm,
    errors: dict[str, str],
    *,
    status: int = 200,
    note: str = "",
) -> HTMLResponse:
    name = str(subnet["name"])
    radios = "".join(
        f'<label class=inline><input type=radio name=enable value="{v}"'
        f"{' checked' if form.enable == (v == 'on') else ''} data-controls=flow-settings> "
        f"{label}</label>"
        for v, label in (("on", "On"), ("off", "Off"))
    )
    intervals = [(i, INTERVAL_LABELS[i]) for i in AGGREGATION_INTERVALS]
    if form.interval not in INTERVAL_LABELS:
        intervals.append((form.interval, form.interval))
    modes = [(m, METADATA_LABELS[m]) for m in METADATA_MODES]
    if form.metadata not in METADATA_LABELS:
        modes.append((form.metadata, form.metadata))
    body = (
        f"<p class=crumbs><a href='{BASE}'>Subnets</a> › {h(name)}</p>"
        f"<h1>Edit subnet {h(name)}</h1>{note}{form_error(errors)}"
        f"<table class=details><tr><th scope=row>Region</th><td>{h(region)}</td></tr>"
        f"<tr><th scope=row>IP range</th><td>{h(subnet.get('ipCidrRange', ''))}</td></tr>"
        "</table>"
        f'<form method=post action="{h(_path(region, name))}" class=card>'
        f"{csrf_input(csrf_value(ctx.token))}"
        f'<input type=hidden name=fingerprint value="{h(form.fingerprint)}">'
        f"<fieldset class=field{invalid_attrs(errors, 'enable')}><legend>Flow logs</legend>"
        f"{radios}{field_error(errors, 'enable')}</fieldset>"
        "<fieldset id=flow-settings class=settings><legend>Flow log settings</legend>"
        "<div class=field><label for=interval>Aggregation interval</label>"
        f"<select id=interval name=interval{invalid_attrs(errors, 'interval')}>"
        f"{options(intervals, form.interval)}</select>{field_error(errors, 'interval')}</div>"
        "<div class=field><label for=sampling>Sample rate</label>"
        f'<input id=sampling name=sampling inputmode=decimal value="{h(form.sampling)}" '
        f"aria-describedby=sampling-help{invalid_attrs(errors, 'sampling')}>"
        "<p class=help id=sampling-help>The share of flows logged, from 0 to 1 (0.5 logs "
        f"half of them).</p>{field_error(errors, 'sampling')}</div>"
        "<div class=field><label for=metadata>Metadata</label>"
        f"<select id=metadata name=metadata{invalid_attrs(errors, 'metadata')}>"
        f"{options(modes, form.metadata)}</select>{field_error(errors, 'metadata')}</div>"
        "<div class=field><label for=metadata_fields>Metadata fields</label>"
        f'<input id=metadata_fields name=metadata_fields value="{h(form.metadata_fields)}" '
        'placeholder="src_gke_details, dest_gke_details" aria-describedby=fields-help'
        f"{invalid_attrs(errors, 'metadata_fields')}><p class=help id=fields-help>"
        "With custom metadata: the record fields to keep, separated by commas.</p>"
        f"{field_error(errors, 'metadata_fields')}</div>"
        "<div class=field><label for=filter_expr>Filter expression</label>"
        f"<textarea id=filter_expr name=filter_expr rows=3 aria-describedby=filter-help"
        f"{invalid_attrs(errors, 'filter_expr')}>{h(form.filter_expr)}</textarea>"
        "<p class=help id=filter-help>A CEL expression over the record; only the flows it "
        f"keeps are logged. Empty logs every flow.</p>{field_error(errors, 'filter_expr')}"
        "</div></fieldset><div class=actions><button type=submit class=primary>Save</button>"
        f'<a href="{BASE}">Cancel</a></div></form>'
    )
    return page(
        f"Subnet {name}", body, project=ctx.settings.project, active="subnets", status=status
    )

"""``require_enabled``: the exact 403 Google sends when an API is disabled in a project."""

from __future__ import annotations

import pytest

from intranode.api.google.errors import google_error_body
from intranode.controllers import serviceusage
from intranode.controllers.context import Context
from intranode.domain.resources import project_number
from intranode.errors import PermissionDenied
from tests.unit.conftest import PROJECT

NUMBER = project_number(PROJECT)


def disable_container(ctx: Context) -> None:
    serviceusage.disable(
        ctx, PROJECT, "container.googleapis.com", disable_dependents=False, check_usage=False
    )


def test_enabled_service_passes(ctx: Context) -> None:
    serviceusage.require_enabled(ctx, PROJECT, "container.googleapis.com")
    serviceusage.require_enabled(ctx, NUMBER, "logging.googleapis.com")


def test_disabled_service_gets_googles_403_body(ctx: Context) -> None:
    disable_container(ctx)
    with pytest.raises(PermissionDenied) as info:
        serviceusage.require_enabled(ctx, PROJECT, "container.googleapis.com")
    url = (
        "https://console.developers.google.com/apis/api/container.googleapis.com/overview"
        f"?project={NUMBER}"
    )
    message = (
        f"Kubernetes Engine API has not been used in project {NUMBER} before or it is disabled. "
        f"Enable it by visiting {url} then retry. If you enabled this API recently, wait a few "
        "minutes for the action to propagate to our systems and retry."
    )
    assert google_error_body(info.value) == {
        "error": {
            "code": 403,
            "message": message,
            "status": "PERMISSION_DENIED",
            "errors": [{"message": message, "domain": "global", "reason": "accessNotConfigured"}],
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "SERVICE_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": {
                        "service": "container.googleapis.com",
                        "consumer": f"projects/{NUMBER}",
                        "activationUrl": url,
                        "serviceTitle": "Kubernetes Engine API",
                        "containerInfo": NUMBER,
                    },
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message,
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {"description": "Google developers console API activation", "url": url}
                    ],
                },
            ],
        }
    }


def test_the_message_is_the_one_gcloud_recognises(ctx: Context) -> None:
    # gcloud's api_enablement parses exactly this sentence to offer enabling the API.
    import re

    gcloud_regex = re.compile(
        ".*Enable it by visiting https://console.(?:cloud|developers).google.com"
        "/apis/api/([^/]+)/overview\\?project=(\\S+) then retry. If you "
        "enabled this API recently, wait a few minutes for the action to propagate"
        " to our systems and retry.\\w*"
    )
    disable_container(ctx)
    with pytest.raises(PermissionDenied) as info:
        serviceusage.require_enabled(ctx, PROJECT, "container.googleapis.com")
    match = gcloud_regex.match(info.value.message)
    assert match is not None
    assert match.groups() == ("container.googleapis.com", NUMBER)


def test_a_project_never_seeded_has_every_api_disabled(ctx: Context) -> None:
    with pytest.raises(PermissionDenied) as info:
        serviceusage.require_enabled(ctx, "someone-else", "compute.googleapis.com")
    number = project_number("someone-else")
    assert info.value.message.startswith(
        f"Compute Engine API has not been used in project {number} before or it is disabled."
    )


def test_a_use_is_recorded_for_the_usage_check(ctx: Context) -> None:
    clock = [1_000_000.0]
    ctx.clock = lambda: clock[0]
    serviceusage.require_enabled(ctx, PROJECT, "dns.googleapis.com")
    clock[0] += serviceusage.USAGE_WINDOW + 1  # 30 days later the use no longer counts
    serviceusage.disable(
        ctx, PROJECT, "dns.googleapis.com", disable_dependents=True, check_usage=True
    )
    with pytest.raises(PermissionDenied):
        serviceusage.require_enabled(ctx, PROJECT, "dns.googleapis.com")

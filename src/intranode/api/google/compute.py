"""Compute Engine API v1 under ``/compute/v1``, as Google serves it to gcloud and the
google-cloud-compute client: networks, subnetworks (flow logs), firewall rules, routes,
instances (read-only), operations, and the ``/batch/compute/v1`` endpoint gcloud uses for
several calls at once. The wire shapes live in the ``compute_*`` modules."""

from fastapi import APIRouter

from intranode.api.google import (
    compute_batch,
    compute_firewall_policies,
    compute_firewalls,
    compute_load_balancing,
    compute_mirroring,
    compute_networks,
    compute_operations,
)

router = APIRouter()
for _module in (
    compute_networks,
    compute_firewalls,
    compute_firewall_policies,
    compute_mirroring,
    compute_load_balancing,
    compute_operations,
):
    router.include_router(_module.router, prefix="/compute/v1")
router.include_router(compute_batch.router)

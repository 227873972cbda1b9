"""Each cluster's endpoint over real TLS: certificates, ports kept across restarts, auth,
and a watch streamed over the network."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import socket
import ssl
import stat

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from intranode.api.kube.server import KubeServers, safe_name
from intranode.api.kube.tls import make_pki
from intranode.controllers.context import Context
from intranode.domain.resources import CLUSTER, CLUSTER_SECRET
from tests.unit.conftest import TOKEN
from tests.unit.kube.conftest import CLUSTER_KEY, POD_1

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_the_serving_certificate_names_loopback_and_chains_to_the_cluster_ca() -> None:
    pki = make_pki("flow-log-test")
    ca = x509.load_pem_x509_certificate(pki.ca_cert.encode())
    cert = x509.load_pem_x509_certificate(pki.cert.encode())
    assert ca.subject.rfc4514_string() == "CN=flow-log-test"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert {"localhost", "kubernetes", "kubernetes.default.svc"} <= set(
        sans.get_values_for_type(x509.DNSName)
    )
    assert cert.issuer == ca.subject
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    public.verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )
    cert.verify_directly_issued_by(ca)


def _client(ca_b64: str) -> httpx.AsyncClient:
    context = ssl.create_default_context(cadata=base64.b64decode(ca_b64).decode())
    return httpx.AsyncClient(verify=context, timeout=10)


def test_an_endpoint_serves_tls_keeps_its_port_and_refuses_strangers(
    ctx: Context, cluster: str
) -> None:
    async def scenario() -> None:
        servers = KubeServers(ctx)
        try:
            info = await servers.start(cluster)
            assert info == await servers.start(cluster)  # idempotent
            host, port = info.endpoint.split(":")
            assert host == "127.0.0.1"
            base = f"https://{info.endpoint}"
            async with _client(info.ca_certificate_b64) as http:
                v = await http.get(f"{base}/version", headers=AUTH)
                assert v.status_code == 200 and v.json()["minor"] == "32"
                denied = await http.get(f"{base}/api/v1/pods")
                assert denied.status_code == 401 and denied.json()["reason"] == "Unauthorized"
            secret = ctx.resources.get(CLUSTER_SECRET, cluster)
            assert secret is not None and secret.data["port"] == int(port)
            folder = ctx.settings.state_dir / "clusters" / safe_name(cluster)
            for name in ("apiserver.crt", "apiserver.key"):
                assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
            await servers.stop(cluster)
            with socket.socket() as s:  # the port is released
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", int(port)))
            again = await servers.start(cluster)
            assert again == info  # same port, same CA
        finally:
            await servers.shutdown()

    asyncio.run(scenario())


def test_a_taken_port_moves_the_endpoint(ctx: Context, cluster: str) -> None:
    async def scenario() -> None:
        servers = KubeServers(ctx)
        try:
            first = await servers.start(cluster)
            await servers.stop(cluster)
            port = int(first.endpoint.split(":")[1])
            with socket.socket() as squatter:
                squatter.bind(("127.0.0.1", port))
                squatter.listen(1)
                moved = await servers.start(cluster)
            assert moved.endpoint != first.endpoint
            assert moved.ca_certificate_b64 == first.ca_certificate_b64
            secret = ctx.resources.get(CLUSTER_SECRET, cluster)
            assert secret is not None
            assert secret.data["port"] == int(moved.endpoint.split(":")[1])
        finally:
            await servers.shutdown()

    asyncio.run(scenario())


def test_start_all_serves_running_clusters_only(ctx: Context, cluster: str) -> None:
    stopped = CLUSTER_KEY.replace("flow-log-test", "stopped")
    ctx.resources.put(CLUSTER, stopped, "x", {"name": "stopped", "status": "PROVISIONING"})

    async def scenario() -> None:
        servers = KubeServers(ctx)
        try:
            await servers.start_all()
            assert servers.endpoint(cluster) is not None
            assert servers.endpoint(stopped) is None
        finally:
            await servers.shutdown()
            assert servers.endpoint(cluster) is None

    asyncio.run(scenario())


def test_a_watch_streams_over_the_network(ctx: Context, cluster: str) -> None:
    async def scenario() -> None:
        servers = KubeServers(ctx)
        try:
            info = await servers.start(cluster)
            base = f"https://{info.endpoint}/api/v1/namespaces/default/pods"
            async with (
                _client(info.ca_certificate_b64) as http,
                http.stream(
                    "GET", base, params={"watch": "true", "timeoutSeconds": "5"}, headers=AUTH
                ) as stream,
            ):
                lines = stream.aiter_lines()
                created = await http.post(base, json=POD_1, headers=AUTH)
                assert created.status_code == 201
                event = json.loads(await asyncio.wait_for(lines.__anext__(), 5))
                assert event["type"] == "ADDED"
                assert event["object"]["metadata"]["name"] == "pod-1"
                # Stopping the endpoint ends open watches instead of waiting for them.
                await asyncio.wait_for(servers.stop(cluster), 5)
        finally:
            await servers.shutdown()

    asyncio.run(scenario())


def test_a_deleted_cluster_loses_its_ca_and_files(ctx: Context, cluster: str) -> None:
    async def scenario() -> None:
        servers = KubeServers(ctx)
        try:
            first = await servers.start(cluster)
            await servers.stop(cluster)  # a restart keeps everything
            assert ctx.resources.get(CLUSTER_SECRET, cluster) is not None
            doc = ctx.resources.get(CLUSTER, cluster)
            assert doc is not None
            ctx.resources.update(CLUSTER, cluster, {**doc.data, "status": "STOPPING"})
            await servers.start(cluster)
            await servers.stop(cluster)
            assert ctx.resources.get(CLUSTER_SECRET, cluster) is None
            assert not (ctx.settings.state_dir / "clusters" / safe_name(cluster)).exists()
            ctx.resources.update(CLUSTER, cluster, {**doc.data, "status": "RUNNING"})
            again = await servers.start(cluster)
            assert again.ca_certificate_b64 != first.ca_certificate_b64
        finally:
            await servers.shutdown()

    asyncio.run(scenario())

"""``kubectl create namespace|configmap`` send protobuf; the API takes them like JSON."""

from __future__ import annotations

from fastapi.testclient import TestClient

PROTOBUF = {"content-type": "application/vnd.kubernetes.protobuf"}


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def envelope(kind: str, raw: bytes) -> bytes:
    type_meta = field(1, "v1") + field(2, kind)
    return b"k8s\x00" + field(1, type_meta) + field(2, raw) + field(3, "") + field(4, "")


def test_create_namespace_from_protobuf(kube: TestClient) -> None:
    meta = field(1, "team") + field(2, "") + field(8, b"")
    r = kube.post(
        "/api/v1/namespaces",
        params={"fieldManager": "kubectl-create", "fieldValidation": "Strict"},
        content=envelope("Namespace", field(1, meta) + field(2, b"") + field(3, b"")),
        headers=PROTOBUF,
    )
    assert r.status_code == 201
    assert r.json()["metadata"]["name"] == "team"
    assert "generateName" not in r.json()["metadata"]
    assert r.json()["status"] == {"phase": "Active"}


def test_create_configmap_from_protobuf(kube: TestClient) -> None:
    meta = field(1, "cfg") + field(11, field(1, "app") + field(2, "web"))
    data = field(2, field(1, "a") + field(2, "1")) + field(2, field(1, "b") + field(2, "2"))
    binary = field(3, field(1, "blob") + field(2, b"\x00\x01"))
    r = kube.post(
        "/api/v1/namespaces/default/configmaps",
        content=envelope("ConfigMap", field(1, meta) + data + binary),
        headers=PROTOBUF,
    )
    assert r.status_code == 201
    body = r.json()
    assert body["data"] == {"a": "1", "b": "2"}
    assert body["binaryData"] == {"blob": "AAE="}
    assert body["metadata"]["labels"] == {"app": "web"}


def test_protobuf_of_other_kinds_and_garbage_is_refused(kube: TestClient) -> None:
    r = kube.post("/api/v1/namespaces/default/pods", content=envelope("Pod", b""), headers=PROTOBUF)
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    r = kube.post("/api/v1/namespaces", content=b"\x01\x02", headers=PROTOBUF)
    assert r.status_code == 415
    r = kube.post("/api/v1/namespaces", content=b"k8s\x00\x0a\xff", headers=PROTOBUF)
    assert r.status_code == 400
    assert kube.get("/api/v1/namespaces/team").status_code == 404

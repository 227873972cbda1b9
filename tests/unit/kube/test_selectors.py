"""Label and field selectors: parsing, matching, errors, and use on lists."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient

from intranode.domain.kube.selectors import parse_field_selector, parse_label_selector
from intranode.errors import InvalidArgument
from tests.unit.kube.conftest import POD_1, PODS_URL


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("app=web,tier!=db", {"app": "web", "tier": "fe"}, True),
        ("app in (web, db)", {"app": "db"}, True),
        ("app notin (web,db)", {"app": "db"}, False),
        ("app", {"app": ""}, True),
        ("!app", {"app": "x"}, False),
        ("!app", {}, True),
        ("n>3", {"n": "4"}, True),
        ("n<3", {"n": "4"}, False),
        ("", {"x": "y"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_label_selector(selector).matches(labels) is matches


@pytest.mark.parametrize("bad", ["app=", "a b=c", "app in ()", "=x", "app=a b", "x,"])
def test_bad_label_selectors_are_bad_requests(bad: str) -> None:
    if bad == "app=":  # an empty value is valid ("app" set to "")
        assert parse_label_selector(bad).matches({"app": ""})
        return
    with pytest.raises(InvalidArgument) as info:
        parse_label_selector(bad)
    assert info.value.reason == "BadRequest"
    assert info.value.message.startswith("unable to parse requirement")


def test_field_selectors() -> None:
    pod = {"metadata": {"name": "pod-1", "namespace": "default"}, "spec": {"nodeName": "n1"}}
    assert parse_field_selector("metadata.name=pod-1", "pods").matches(pod)
    assert parse_field_selector("spec.nodeName==n1,metadata.namespace!=x", "pods").matches(pod)
    assert not parse_field_selector("spec.nodeName=", "pods").matches(pod)
    assert parse_field_selector("spec.hostNetwork=false", "pods").matches(pod)
    ev = {"metadata": {"name": "e"}, "involvedObject": {"name": "pod-1", "kind": "Pod"}}
    assert parse_field_selector("involvedObject.name=pod-1", "events").matches(ev)
    with pytest.raises(InvalidArgument) as info:
        parse_field_selector("spec.color=red", "pods")
    assert info.value.message == "field label not supported: spec.color"


def test_lists_filter_by_selectors(kube: TestClient) -> None:
    for name, app in (("pod-1", "web"), ("pod-2", "db")):
        body = copy.deepcopy(POD_1)
        body["metadata"] = {"name": name, "labels": {"app": app}}
        kube.post(PODS_URL, json=body)

    def names(**params: str) -> list[str]:
        return [i["metadata"]["name"] for i in kube.get(PODS_URL, params=params).json()["items"]]

    assert names(labelSelector="app=web") == ["pod-1"]
    assert names(labelSelector="app!=web") == ["pod-2"]
    assert names(fieldSelector="metadata.name=pod-2") == ["pod-2"]
    assert names(fieldSelector="spec.nodeName=") == []
    r = kube.get(PODS_URL, params={"fieldSelector": "spec.color=red"})
    assert r.status_code == 400 and r.json()["message"] == "field label not supported: spec.color"
    r = kube.get(PODS_URL, params={"labelSelector": "a b"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"

"""Strategic merge, JSON merge and JSON patches on Pod-shaped documents."""

from __future__ import annotations

import pytest

from intranode.domain.kube.merge import json_patch, merge_patch, strategic_merge
from intranode.errors import InvalidArgument

POD = {
    "metadata": {"labels": {"app": "web", "tier": "fe"}, "finalizers": ["a"]},
    "spec": {
        "containers": [
            {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}], "args": ["x"]},
            {"name": "b", "image": "b:1"},
        ],
        "tolerations": [{"key": "k"}],
    },
}


def test_lists_with_a_merge_key_merge_by_element() -> None:
    out = strategic_merge(POD, {"spec": {"containers": [{"name": "b", "image": "b:2"}]}})
    assert out["spec"]["containers"] == [
        POD["spec"]["containers"][0],
        {"name": "b", "image": "b:2"},
    ]
    added = strategic_merge(POD, {"spec": {"containers": [{"name": "c", "image": "c:1"}]}})
    assert [c["name"] for c in added["spec"]["containers"]] == ["a", "b", "c"]
    nested = strategic_merge(
        POD, {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 81}]}]}}
    )
    assert nested["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80},
        {"containerPort": 81},
    ]


def test_lists_without_a_merge_key_are_replaced() -> None:
    out = strategic_merge(POD, {"spec": {"tolerations": [{"key": "z"}]}})
    assert out["spec"]["tolerations"] == [{"key": "z"}]
    args = strategic_merge(POD, {"spec": {"containers": [{"name": "a", "args": ["y"]}]}})
    assert args["spec"]["containers"][0]["args"] == ["y"]


def test_directives() -> None:
    deleted = strategic_merge(POD, {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}})
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["b"]
    replaced = strategic_merge(
        POD, {"spec": {"containers": [{"name": "z", "image": "z"}, {"$patch": "replace"}]}}
    )
    assert replaced["spec"]["containers"] == [{"name": "z", "image": "z"}]
    ordered = strategic_merge(
        POD, {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    )
    assert [c["name"] for c in ordered["spec"]["containers"]] == ["b", "a"]
    nulled = strategic_merge(POD, {"metadata": {"labels": {"tier": None}}})
    assert nulled["metadata"]["labels"] == {"app": "web"}
    fin = strategic_merge(POD, {"metadata": {"finalizers": ["b"]}})
    assert fin["metadata"]["finalizers"] == ["a", "b"]
    dropped = strategic_merge(POD, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert dropped["metadata"]["finalizers"] == []
    whole = strategic_merge(POD, {"metadata": {"labels": {"$patch": "replace", "x": "y"}}})
    assert whole["metadata"]["labels"] == {"x": "y"}
    assert POD["metadata"]["labels"] == {"app": "web", "tier": "fe"}  # the original is untouched


def test_merge_patch() -> None:
    out = merge_patch(
        POD, {"metadata": {"labels": {"tier": None, "x": "1"}}, "spec": {"tolerations": None}}
    )
    assert out["metadata"]["labels"] == {"app": "web", "x": "1"}
    assert "tolerations" not in out["spec"]


def test_json_patch_operations_and_failures() -> None:
    out = json_patch(
        POD,
        [
            {"op": "add", "path": "/metadata/labels/x", "value": "1"},
            {"op": "remove", "path": "/metadata/labels/tier"},
            {"op": "replace", "path": "/spec/containers/1/image", "value": "b:2"},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"},
            {"op": "move", "from": "/metadata/labels/x", "path": "/metadata/labels/y"},
            {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "q"}},
            {"op": "test", "path": "/metadata/labels/app", "value": "web"},
        ],
    )
    assert out["metadata"]["labels"] == {"app": "web", "copy": "web", "y": "1"}
    assert out["spec"]["containers"][1]["image"] == "b:2"
    assert out["spec"]["tolerations"] == [{"key": "k"}, {"key": "q"}]
    with pytest.raises(InvalidArgument) as info:
        json_patch(POD, [{"op": "remove", "path": "/metadata/nope"}])
    assert info.value.reason == "BadRequest"
    with pytest.raises(InvalidArgument) as info:
        json_patch(POD, [{"op": "test", "path": "/metadata/labels/app", "value": "db"}])
    assert info.value.reason == "Invalid"
    with pytest.raises(InvalidArgument):
        json_patch(POD, {"op": "add"})

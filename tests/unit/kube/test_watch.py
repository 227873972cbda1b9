"""Watches: initial events, live events in commit order, selectors, Tables, expiry."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.api.kube.watch import ChangeFeed, Expired, WatchFilter
from intranode.controllers.context import Context
from intranode.domain.resources import k8s_kind
from tests.unit.kube.conftest import CLUSTER_KEY, POD_1, PODS_URL, TABLE

MERGE = {"content-type": "application/merge-patch+json"}


def pod(name: str, **labels: str) -> dict[str, Any]:
    body = copy.deepcopy(POD_1)
    body["metadata"] = {"name": name, "labels": labels} if labels else {"name": name}
    return body


def watch_while(
    kube: TestClient,
    actions: Callable[[], None],
    headers: dict[str, str] | None = None,
    **params: str,
) -> list[dict[str, Any]]:
    """Watch for a second while ``actions`` run in another thread; the events, parsed."""

    def later() -> None:
        time.sleep(0.3)
        actions()

    worker = threading.Thread(target=later)
    worker.start()
    r = kube.get(
        PODS_URL, params={"watch": "true", "timeoutSeconds": "1", **params}, headers=headers
    )
    worker.join()
    assert r.status_code == 200
    return [json.loads(line) for line in r.text.splitlines() if line]


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


def test_a_watch_starts_with_what_exists_then_follows_changes(kube: TestClient) -> None:
    kube.post(PODS_URL, json=pod("pod-1"))

    def actions() -> None:
        kube.post(PODS_URL, json=pod("pod-2"))
        kube.patch(
            f"{PODS_URL}/pod-2",
            content=json.dumps({"metadata": {"labels": {"a": "b"}}}),
            headers=MERGE,
        )
        kube.delete(f"{PODS_URL}/pod-1")

    events = watch_while(kube, actions)
    assert summary(events) == [
        ("ADDED", "pod-1"),
        ("ADDED", "pod-2"),
        ("MODIFIED", "pod-2"),
        ("DELETED", "pod-1"),
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events[1:]]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert events[1]["object"]["status"]["podIP"]


def test_a_watch_from_a_list_version_sends_only_later_changes(kube: TestClient) -> None:
    kube.post(PODS_URL, json=pod("pod-1"))
    rv = kube.get(PODS_URL).json()["metadata"]["resourceVersion"]
    kube.post(PODS_URL, json=pod("pod-2"))  # after the list: must be replayed
    events = watch_while(kube, lambda: kube.delete(f"{PODS_URL}/pod-2"), resourceVersion=rv)
    assert summary(events) == [("ADDED", "pod-2"), ("DELETED", "pod-2")]


def test_selectors_turn_changes_into_arrivals_and_departures(kube: TestClient) -> None:
    def actions() -> None:
        kube.post(PODS_URL, json=pod("pod-1"))
        kube.patch(
            f"{PODS_URL}/pod-1",
            content=json.dumps({"metadata": {"labels": {"app": "web"}}}),
            headers=MERGE,
        )
        kube.patch(
            f"{PODS_URL}/pod-1",
            content=json.dumps({"metadata": {"labels": {"x": "y"}}}),
            headers=MERGE,
        )
        kube.patch(
            f"{PODS_URL}/pod-1",
            content=json.dumps({"metadata": {"labels": {"app": None}}}),
            headers=MERGE,
        )
        kube.post(PODS_URL, json=pod("pod-2"))

    events = watch_while(kube, actions, labelSelector="app=web")
    assert summary(events) == [("ADDED", "pod-1"), ("MODIFIED", "pod-1"), ("DELETED", "pod-1")]


def test_field_selected_watch_of_one_pod(kube: TestClient) -> None:
    def actions() -> None:
        kube.post(PODS_URL, json=pod("pod-1"))
        kube.post(PODS_URL, json=pod("pod-2"))

    events = watch_while(kube, actions, fieldSelector="metadata.name=pod-2")
    assert summary(events) == [("ADDED", "pod-2")]


def test_table_watch_sends_columns_once(kube: TestClient) -> None:
    kube.post(PODS_URL, json=pod("pod-1"))
    events = watch_while(
        kube, lambda: kube.post(PODS_URL, json=pod("pod-2")), headers={"accept": TABLE}
    )
    assert [e["type"] for e in events] == ["ADDED", "ADDED"]
    first, second = (e["object"] for e in events)
    assert first["kind"] == "Table" and len(first["columnDefinitions"]) == 9
    assert "columnDefinitions" not in second
    assert [first["rows"][0]["cells"][0], second["rows"][0]["cells"][0]] == ["pod-1", "pod-2"]


def test_bookmarks_mark_the_end_of_initial_events(kube: TestClient) -> None:
    kube.post(PODS_URL, json=pod("pod-1"))
    events = watch_while(
        kube,
        lambda: None,
        sendInitialEvents="true",
        allowWatchBookmarks="true",
        resourceVersionMatch="NotOlderThan",
    )
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_a_version_older_than_the_history_has_expired(ctx: Context) -> None:
    feed = ChangeFeed(ctx.resources, capacity=2)
    try:
        for i in range(4):
            ctx.resources.put(k8s_kind("configmaps"), f"{CLUSTER_KEY}/cm/{i}", CLUSTER_KEY, {})
        with pytest.raises(Expired) as info:

            async def open_old() -> None:
                feed.watch(WatchFilter(CLUSTER_KEY, k8s_kind("configmaps")), since=1)

            asyncio.run(open_old())
        assert info.value.code == 410
        assert info.value.message.startswith("too old resource version: 1 (")
    finally:
        feed.close()


def test_an_expired_watch_answers_an_error_event(kube: TestClient, feed: ChangeFeed) -> None:
    feed._dropped_upto = 10**9  # everything before is gone from the history
    r = kube.get(PODS_URL, params={"watch": "1", "resourceVersion": "5"})
    (event,) = [json.loads(line) for line in r.text.splitlines()]
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"

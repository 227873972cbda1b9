"""Every page is reachable by links from /console, and every page is accessible HTML: a
language, a title, one main landmark, and a label for every form control."""

from __future__ import annotations

from html.parser import HTMLParser

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from tests.unit.console.helpers import add_pod, create_cluster, node_names


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.mains = 0
        self.lang: str | None = None
        self.title = ""
        self._in_title = False
        self._in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "a" and (a.get("href") or "").startswith("/console"):
            self.links.append(str(a["href"]).split("#")[0].replace("&amp;", "&"))
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden",):
            # A control inside its <label> is labelled by it.
            self.controls.append({**a, "wrapped": "yes" if self._in_label else None})
        elif tag == "label":
            self._in_label += 1
            if a.get("for"):
                self.labels.add(str(a["for"]))
        elif tag == "main":
            self.mains += 1
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "label":
            self._in_label -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


def _crawl(client: TestClient) -> dict[str, _Page]:
    seen: dict[str, _Page] = {}
    todo = ["/console"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        seen[path] = _parse(r.text)
        todo += [link for link in seen[path].links if link not in seen and "?" not in link]
    return seen


def test_every_page_is_linked_from_the_start_page(client: TestClient, ctx: Context) -> None:
    create_cluster(client, "flow-log-test")
    pages = _crawl(client)
    for wanted in (
        "/console/kubernetes/clusters",
        "/console/kubernetes/clusters/create",
        "/console/kubernetes/clusters/us-central1-a/flow-log-test",
        "/console/kubernetes/clusters/us-central1-a/flow-log-test/edit-intra-node-visibility",
        "/console/kubernetes/workloads",
        "/console/networking/subnets",
        "/console/networking/subnets/us-central1/default",
        "/console/networking/traffic-map",
        "/console/logs/query",
    ):
        assert wanted in pages, wanted


def test_every_page_is_labelled_for_assistive_technology(client: TestClient, ctx: Context) -> None:
    create_cluster(client, "flow-log-test")
    node = node_names(ctx, "flow-log-test")[0]
    add_pod(ctx, "flow-log-test", "pod-1", node, "10.0.0.9")
    pages = _crawl(client)
    pages["configure"] = _parse(
        client.get("/console/kubernetes/clusters/create/configure?name=a&mode=standard").text
    )
    for path, p in pages.items():
        assert p.lang == "en", path
        assert p.title.strip(), path
        assert p.mains == 1, path
        for control in p.controls:
            labelled = (
                control.get("id") in p.labels or control.get("aria-label") or control["wrapped"]
            )
            assert labelled, (path, control)

"""HTTP calls from the CLI to its daemon, with Google's error body turned into a message."""

from __future__ import annotations

from typing import Any

import click
import httpx

from intranode.cli.target import Target


class DaemonClient:
    def __init__(self, target: Target, timeout: float = 10.0) -> None:
        settings = target.settings()
        self.base_url = settings.base_url
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {target.token()}"},
            timeout=timeout,
        )

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("POST", path, json=body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self._call("DELETE", path)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.ConnectError as exc:
            raise click.ClickException(
                f"the daemon at {self.base_url} does not answer (is it running? intranode up)"
            ) from exc
        except httpx.HTTPError as exc:
            raise click.ClickException(f"request to {self.base_url}{path} failed: {exc}") from exc
        if resp.status_code >= 400:
            raise click.ClickException(error_text(resp))
        return resp.json() if resp.content else None


def error_text(resp: httpx.Response) -> str:
    try:
        err = resp.json()["error"]
        return f"{err.get('status', resp.status_code)}: {err.get('message', '')}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {resp.status_code}: {resp.text[:200]}"

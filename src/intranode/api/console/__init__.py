"""The web console at ``/console``: server-rendered pages over the same controllers the Google
APIs use (``docs/console.md``).

``create_console_app(ctx, connections)`` builds it; the daemon's app mounts it behind
:class:`intranode.api.app.BearerAuth`, which lets a request in with the bearer token or the
session cookie set by ``/console/login`` (:mod:`.session`), and answers a request without
either with :func:`.auth.login_required`.
"""

from intranode.api.console.app import create_console_app

__all__ = ["create_console_app"]

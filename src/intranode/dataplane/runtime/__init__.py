"""The pod runtime: pod sandboxes, containers as processes, the shared hello-app server, exec.

Modules (each documents its public API): ``pods`` (``PodRuntime``, what controllers call),
``spec`` (``PodRun`` from a Pod object), ``sandbox`` (UTS namespaces), ``supervisor``
(restarts, back-off, status), ``launchers`` (process / served / idle containers),
``podserver`` and ``hello`` (the shared server's two sides), ``executor`` (``kubectl exec``),
``status``, ``restart``, ``process``, ``linux``, ``records``.

This package stays import-light: ``hello`` runs as its own small process and imports it.
"""

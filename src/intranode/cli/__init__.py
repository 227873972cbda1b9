"""The ``intranode`` command: starts, stops and inspects a daemon over HTTP.

It imports neither FastAPI nor the dataplane (import-linter holds it to that), so it starts
fast and could drive a daemon it did not start.
"""

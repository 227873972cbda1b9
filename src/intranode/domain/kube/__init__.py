"""Kubernetes API rules, pure: object kinds, validation, merge and apply, selectors, Table rows,
pod scheduling choices and the durations kubectl prints. The API layer and controllers call
these; nothing here does I/O."""

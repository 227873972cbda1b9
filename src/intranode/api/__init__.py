"""Wire formats only: Google's JSON APIs, their errors and operations, the Kubernetes API."""

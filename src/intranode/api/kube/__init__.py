"""The Kubernetes API of each cluster, served over TLS on its own port."""

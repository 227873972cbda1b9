"""intranode: GKE networking with intra-node visibility on one Linux machine.

Nodes, pods and the VPC router are Linux network namespaces; the real gcloud, kubectl and
Google Cloud client libraries drive them through the REST APIs they use against Google Cloud.
The map of the code is docs/architecture.md.
"""

__version__ = "0.1.0"

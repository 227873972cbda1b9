"""The built-in image catalogue: what each container image means on an intranode node.

intranode pulls nothing. An image name is resolved here, purely, to one of three behaviours:

- ``HELLO_APP``: Google's hello-app sample (``us-docker.pkg.dev/google-samples/containers/gke/
  hello-app`` and ``gcr.io/google-samples/hello-app``, tags ``1.0`` and ``2.0``). It is served by
  the node's shared hello-app server: ``Hello, world!`` / ``Version: 1.0.0`` (or ``2.0.0``) /
  ``Hostname: <pod name>`` on ``$PORT`` (default 8080).
- ``WEB``: ``nginx`` (any tag). With no command it answers every path on port 80 with a small
  static welcome page, from the same shared server; with a command it behaves like ``TOOLS``.
- ``TOOLS``: ``busybox``, ``alpine``, ``debian``, ``ubuntu``, ``curlimages/curl`` and
  ``nicolaka/netshoot`` (any tag). The container's command runs with the *host's* programs
  inside the pod's network and UTS namespaces. With no command the container idles (Running,
  Ready, no process) instead of exiting the way ``busybox``'s ``sh`` would without a terminal,
  so ``kubectl run --image=busybox`` and ``kubectl exec`` give users a shell pod to work in.

Any other image fails to pull as a registry would answer: ``ErrImagePull`` with containerd's
``NotFound`` text, then ``ImagePullBackOff``; a malformed name is ``InvalidImageName``.

Public API::

    resolve(image: str) -> ImageSpec | PullError
    parse_reference(image: str) -> ImageRef            (raises InvalidReference)
    container_argv(spec, command, args) -> tuple[str, ...]   (k8s command/args over the image's
                                                              ENTRYPOINT; () = image default)
    Behaviour, ImageSpec, PullError, ImageRef, InvalidReference
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

DEFAULT_DOMAIN = "docker.io"
HELLO_REPOSITORIES = (
    ("us-docker.pkg.dev", "google-samples/containers/gke/hello-app"),
    ("gcr.io", "google-samples/hello-app"),
)
HELLO_VERSIONS = {"1.0": "1.0.0", "2.0": "2.0.0"}
HELLO_PORT = 8080
WEB_PORT = 80
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
INVALID_IMAGE_NAME = "InvalidImageName"

# Docker Hub repositories run with the host's programs; the value is the image's ENTRYPOINT,
# which Kubernetes keeps when a pod gives ``args`` without ``command``.
_TOOLS: dict[str, tuple[str, ...]] = {
    "library/busybox": (),
    "library/alpine": (),
    "library/debian": (),
    "library/ubuntu": (),
    "curlimages/curl": ("curl",),
    "nicolaka/netshoot": (),
}
_WEB = {"library/nginx": ()}

# The grammar of distribution/reference, without the parts (IPv6 hosts) nobody types here.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_RE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?"
)
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")


class Behaviour(enum.Enum):
    HELLO_APP = "hello-app"
    WEB = "web"
    TOOLS = "tools"


class InvalidReference(ValueError):
    """The image name does not parse; the text is the reference library's."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed image name: ``domain/path[:tag][@digest]`` with Docker Hub's defaults."""

    domain: str
    path: str
    tag: str
    digest: str

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def full(self) -> str:
        """The name containerd reports: ``docker.io/library/busybox:latest``."""
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


@dataclass(frozen=True)
class ImageSpec:
    """A resolvable image: what the runtime does with it.

    ``image`` is the name as the pod wrote it; ``reference`` the normalised one; ``image_id``
    a stable ``repo@sha256:…`` for ``containerStatuses[].imageID``; ``version`` hello-app's
    Version line; ``default_port`` where the built-in server listens when nothing overrides it;
    ``entrypoint`` the image's ENTRYPOINT.
    """

    image: str
    reference: str
    image_id: str
    behaviour: Behaviour
    version: str = ""
    default_port: int = 0
    entrypoint: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullError:
    """An image that cannot be pulled: ``reason`` (``ErrImagePull`` or ``InvalidImageName``)
    and kubelet's ``message`` for the container's waiting state."""

    image: str
    reason: str
    message: str

    @property
    def retries(self) -> bool:
        """Kubelet retries pulls (with back-off); a malformed name it never retries."""
        return self.reason == ERR_IMAGE_PULL

    @property
    def backoff_message(self) -> str:
        return f'Back-off pulling image "{self.image}"'


def parse_reference(image: str) -> ImageRef:
    """Split ``image`` as containerd does, adding ``docker.io``, ``library/`` and ``latest``."""
    if not image:
        raise InvalidReference("invalid reference format")
    rest, _, digest = image.partition("@")
    if digest and not _DIGEST_RE.fullmatch(digest):
        raise InvalidReference("invalid reference format")
    name, tag = rest, ""
    colon, slash = rest.rfind(":"), rest.rfind("/")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReference("invalid reference format")
    first, sep, remainder = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, remainder
        if not _DOMAIN_RE.fullmatch(domain):
            raise InvalidReference("invalid reference format")
    else:
        domain, path = DEFAULT_DOMAIN, name
    if not _PATH_RE.fullmatch(path):
        if _PATH_RE.fullmatch(path.lower()):
            raise InvalidReference("invalid reference format: repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    if not tag and not digest:
        tag = "latest"
    return ImageRef(domain=domain, path=path, tag=tag, digest=digest)


def _image_id(ref: ImageRef) -> str:
    # No bytes were pulled, so the digest stands for the name: stable across runs and pods.
    return f"{ref.repository}@sha256:{hashlib.sha256(ref.full.encode()).hexdigest()}"


def resolve(image: str) -> ImageSpec | PullError:
    """What ``image`` runs as on an intranode node, or why it cannot be pulled."""
    try:
        ref = parse_reference(image)
    except InvalidReference as exc:
        return PullError(
            image,
            INVALID_IMAGE_NAME,
            f'Failed to apply default image tag "{image}": couldn\'t parse image reference '
            f'"{image}": {exc}',
        )
    spec = _known(image, ref)
    if spec is not None:
        return spec
    return PullError(
        image,
        ERR_IMAGE_PULL,
        f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
        f'unpack image "{ref.full}": failed to resolve reference "{ref.full}": {ref.full}: '
        "not found",
    )


def _known(image: str, ref: ImageRef) -> ImageSpec | None:
    common = ImageSpec(image, ref.full, _image_id(ref), Behaviour.TOOLS)
    if (ref.domain, ref.path) in HELLO_REPOSITORIES:
        version = HELLO_VERSIONS.get(ref.tag)
        if version is None or ref.digest:
            return None
        return replace(
            common,
            behaviour=Behaviour.HELLO_APP,
            version=version,
            default_port=HELLO_PORT,
            entrypoint=("./hello-app",),
        )
    if ref.domain != DEFAULT_DOMAIN:
        return None
    if ref.path in _WEB:
        return replace(common, behaviour=Behaviour.WEB, default_port=WEB_PORT)
    if ref.path in _TOOLS:
        return replace(common, entrypoint=_TOOLS[ref.path])
    return None


def container_argv(spec: ImageSpec, command: Sequence[str], args: Sequence[str]) -> tuple[str, ...]:
    """The process a container runs, by Kubernetes' rules, or ``()`` for the image's default.

    ``command`` replaces the image's ENTRYPOINT (and drops its CMD); ``args`` alone replace the
    CMD and follow the ENTRYPOINT. The default (neither given) is the built-in behaviour: the
    hello-app or web server, or idling for tool images.
    """
    if command:
        return (*command, *args)
    if args:
        if spec.behaviour is Behaviour.HELLO_APP:
            # hello-app takes no arguments; Go's binary ignores them.
            return ()
        return (*spec.entrypoint, *args)
    return ()

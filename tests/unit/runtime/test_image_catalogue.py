"""The built-in image catalogue: which images run as what, and how unknown ones fail to pull."""

from __future__ import annotations

import pytest

from intranode.domain.images import (
    Behaviour,
    ImageSpec,
    PullError,
    container_argv,
    parse_reference,
    resolve,
)

HELLO_1 = "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"


def _spec(image: str) -> ImageSpec:
    spec = resolve(image)
    assert isinstance(spec, ImageSpec), spec
    return spec


@pytest.mark.parametrize(
    ("image", "version"),
    [
        (HELLO_1, "1.0.0"),
        ("us-docker.pkg.dev/google-samples/containers/gke/hello-app:2.0", "2.0.0"),
        ("gcr.io/google-samples/hello-app:1.0", "1.0.0"),
        ("gcr.io/google-samples/hello-app:2.0", "2.0.0"),
    ],
)
def test_hello_app_images_are_the_built_in_server_with_their_version(
    image: str, version: str
) -> None:
    spec = _spec(image)
    assert spec.behaviour is Behaviour.HELLO_APP
    assert spec.version == version
    assert spec.default_port == 8080
    assert spec.reference == image
    assert spec.image_id.startswith(image.rsplit(":", 1)[0] + "@sha256:")
    assert len(spec.image_id.rsplit(":", 1)[1]) == 64


def test_image_ids_are_stable_and_differ_per_tag() -> None:
    assert _spec(HELLO_1).image_id == _spec(HELLO_1).image_id
    assert _spec(HELLO_1).image_id != _spec(HELLO_1.replace("1.0", "2.0")).image_id


@pytest.mark.parametrize(
    ("image", "reference"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/alpine:3.20", "docker.io/library/alpine:3.20"),
        ("debian:bookworm-slim", "docker.io/library/debian:bookworm-slim"),
        ("ubuntu", "docker.io/library/ubuntu:latest"),
        ("nicolaka/netshoot", "docker.io/nicolaka/netshoot:latest"),
        ("curlimages/curl:8.10.1", "docker.io/curlimages/curl:8.10.1"),
        (
            "busybox@sha256:" + "a" * 64,
            "docker.io/library/busybox@sha256:" + "a" * 64,
        ),
    ],
)
def test_tool_images_run_host_programs_with_any_tag(image: str, reference: str) -> None:
    spec = _spec(image)
    assert spec.behaviour is Behaviour.TOOLS
    assert spec.reference == reference
    assert spec.image == image


def test_nginx_is_the_built_in_web_server_on_port_80() -> None:
    spec = _spec("nginx:1.27")
    assert spec.behaviour is Behaviour.WEB
    assert spec.default_port == 80


def test_an_unknown_image_fails_to_pull_like_containerd_reports_it() -> None:
    err = resolve("example.com/team/app:v1")
    assert err == PullError(
        "example.com/team/app:v1",
        "ErrImagePull",
        'Failed to pull image "example.com/team/app:v1": rpc error: code = NotFound desc = '
        'failed to pull and unpack image "example.com/team/app:v1": failed to resolve reference '
        '"example.com/team/app:v1": example.com/team/app:v1: not found',
    )
    assert err.retries
    assert err.backoff_message == 'Back-off pulling image "example.com/team/app:v1"'


def test_docker_hub_names_are_normalised_in_the_pull_error() -> None:
    err = resolve("nosuchimage")
    assert isinstance(err, PullError)
    assert err.message.endswith(
        'failed to pull and unpack image "docker.io/library/nosuchimage:latest": failed to '
        'resolve reference "docker.io/library/nosuchimage:latest": '
        "docker.io/library/nosuchimage:latest: not found"
    )


@pytest.mark.parametrize(
    "image",
    [
        "us-docker.pkg.dev/google-samples/containers/gke/hello-app:3.0",
        "gcr.io/google-samples/hello-app",
        "quay.io/library/busybox",
        "busybox-extra",
    ],
)
def test_near_misses_are_not_found(image: str) -> None:
    err = resolve(image)
    assert isinstance(err, PullError)
    assert err.reason == "ErrImagePull"


def test_an_uppercase_name_is_an_invalid_image_name_and_never_retried() -> None:
    err = resolve("Busybox")
    assert err == PullError(
        "Busybox",
        "InvalidImageName",
        'Failed to apply default image tag "Busybox": couldn\'t parse image reference '
        '"Busybox": invalid reference format: repository name must be lowercase',
    )
    assert not err.retries


@pytest.mark.parametrize("image", ["busybox:", "busy box", "busybox@sha256:xyz", "", "a//b"])
def test_malformed_names_are_invalid_reference_format(image: str) -> None:
    err = resolve(image)
    assert isinstance(err, PullError)
    assert err.reason == "InvalidImageName"
    assert err.message.endswith(": invalid reference format")


def test_parse_reference_keeps_registry_ports() -> None:
    ref = parse_reference("localhost:5000/app:1")
    assert (ref.domain, ref.path, ref.tag) == ("localhost:5000", "app", "1")


def test_command_replaces_the_entrypoint_and_args_follow_it() -> None:
    curl = _spec("curlimages/curl")
    assert container_argv(curl, ["wget"], ["-q", "x"]) == ("wget", "-q", "x")
    assert container_argv(curl, [], ["-s", "http://x"]) == ("curl", "-s", "http://x")
    assert container_argv(curl, [], []) == ()
    busybox = _spec("busybox")
    assert container_argv(busybox, [], ["sh", "-c", "true"]) == ("sh", "-c", "true")
    assert container_argv(busybox, ["sleep"], []) == ("sleep",)


def test_hello_app_ignores_args_but_honours_a_command() -> None:
    hello = _spec(HELLO_1)
    assert container_argv(hello, [], ["--flag"]) == ()
    assert container_argv(hello, ["sh", "-c", "echo hi"], []) == ("sh", "-c", "echo hi")

from __future__ import annotations

import pytest

from cvcuda_setup.errors import UsageError
from cvcuda_setup.oci.ref import OciRef, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci://ghcr.io/org/cvcuda/prefix:v1", OciRef("ghcr.io", "org/cvcuda/prefix", "v1", False)),
        ("oci://registry.example.com:5000/a/b", OciRef("registry.example.com:5000", "a/b", "latest", False)),
        (
            "oci://localhost:5000/prefix:minimal-13.0",
            OciRef("localhost:5000", "prefix", "minimal-13.0", True),
        ),
        ("oci://127.0.0.1:5000/p_q.r/s__t:T_1.x", OciRef("127.0.0.1:5000", "p_q.r/s__t", "T_1.x", True)),
        ("oci://[::1]:5000/repo:tag", OciRef("[::1]:5000", "repo", "tag", True)),
        ("oci+http://cache.lan:8080/repo:tag", OciRef("cache.lan:8080", "repo", "tag", True)),
        ("oci://localhost/repo", OciRef("localhost", "repo", "latest", True)),
    ],
)
def test_parse_ref(text: str, expected: OciRef) -> None:
    ref = parse_ref(text)
    assert ref == expected
    assert parse_ref(str(ref)) == ref


def test_host_strips_port_and_brackets() -> None:
    assert parse_ref("oci://[::1]:5000/r").host == "::1"
    assert parse_ref("oci://ghcr.io/r").host == "ghcr.io"
    assert parse_ref("oci://h:1/r").host == "h"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("ghcr.io/org/repo:v1", "oci://"),
        ("https://ghcr.io/org/repo", "oci://"),
        ("oci://", "no registry host"),
        ("oci://ghcr.io", "no repository"),
        ("oci://ghcr.io/", "no repository"),
        ("oci://ghcr.io/Org/repo", "repository 'Org/repo'"),
        ("oci://ghcr.io/org//repo", "repository"),
        ("oci://ghcr.io/org/repo:", "tag ''"),
        ("oci://ghcr.io/org/repo:-bad", "tag '-bad'"),
        ("oci://ghcr.io/org/repo@sha256:" + "0" * 64, "digest references"),
        ("oci://gh_cr.io/repo", "host 'gh_cr.io'"),
        ("oci://ghcr.io:99999/repo", "port '99999'"),
        ("oci://ghcr.io:/repo", "port ''"),
        ("oci://[zz]:5000/repo", "IPv6"),
    ],
)
def test_bad_refs_are_usage_errors(text: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_ref(text)
    message = str(info.value)
    assert info.value.return_code == 2
    assert repr(text) in message and why in message
    assert "oci://HOST[:PORT]/REPO" in message
    assert "\n" not in message

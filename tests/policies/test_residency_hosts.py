"""Residency reads Vertex host names exactly: trailing dots, mTLS twins and lookalikes."""

from __future__ import annotations

import httpx2
import pytest

from golden_path._model import GenAIRequest, Identity
from golden_path.policies._body import url_locations
from golden_path.policies._builtins import VertexPolicy
from golden_path.policies._types import Deny

_IDENTITY = Identity(None, None, "gp/1", "vertex", "p", "europe-west4")


def _request(url: str) -> GenAIRequest:
    return GenAIRequest(
        request_id="r",
        identity=_IDENTITY,
        method="POST",
        url=httpx2.URL(url),
        headers=httpx2.Headers(),
        raw=b"",
        surface="genai",
        api_method="generateContent",
        model="g",
        stream=False,
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("europe-west4-aiplatform.googleapis.com", ["europe-west4"]),
        ("us-central1-aiplatform.googleapis.com.", ["us-central1"]),  # trailing dot
        ("US-CENTRAL1-aiplatform.googleapis.com", ["us-central1"]),
        ("us-central1-aiplatform.mtls.googleapis.com", ["us-central1"]),  # mTLS twin
        ("aiplatform.us.rep.googleapis.com", ["us"]),
        ("aiplatform.googleapis.com", ["global"]),
        ("aiplatform.mtls.googleapis.com.", ["global"]),
        ("psc-endpoint.p.googleapis.com", []),  # names no location
        ("europe-west4-aiplatform.googleapis.com.evil.example", []),
    ],
)
def test_host_locations(host: str, expected: list[str]) -> None:
    """The location a host name means, parsed exactly rather than as a suffix."""
    assert url_locations(_request(f"https://{host}/v1/publishers/google/models/g:x")) == expected


@pytest.mark.parametrize(
    "host",
    [
        "us-central1-aiplatform.googleapis.com.",
        "us-central1-aiplatform.mtls.googleapis.com",
        "aiplatform.us.rep.googleapis.com",
        "aiplatform.googleapis.com",
    ],
)
def test_out_of_region_hosts_are_denied(host: str) -> None:
    """A request whose host is in another region is refused, whatever its spelling."""
    policy = VertexPolicy(locations=["europe-west4"])
    with pytest.raises(Deny, match="not allowed"):
        policy.on_request(_request(f"https://{host}/v1/publishers/google/models/g:x"))

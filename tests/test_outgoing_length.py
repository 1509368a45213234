"""A body the policies rewrote leaves with one content-length, its own, however it was sent."""

from __future__ import annotations

import httpx2
import pytest

from golden_path._transport._call import _set_length


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        # The SDK's request: set once by httpx2, replaced in place with its spelling kept.
        ([("Host", "h"), ("Content-Length", "84"), ("x-a", "b")],
         [(b"Host", b"h"), (b"Content-Length", b"123"), (b"x-a", b"b")]),
        ([("Host", "h")], [(b"Host", b"h"), (b"content-length", b"123")]),
        # Written twice by a caller: one is left, as Headers' own assignment leaves it.
        ([("content-length", "1"), ("x-a", "b"), ("Content-Length", "2")],
         [(b"content-length", b"123"), (b"x-a", b"b")]),
    ],
    ids=["once", "absent", "twice"],
)  # fmt: skip
def test_rewritten_body_length(
    sent: list[tuple[str, str]], expected: list[tuple[bytes, bytes]]
) -> None:
    headers = httpx2.Headers(sent)
    _set_length(headers, 123)
    assert headers.raw == expected
    assert headers.get_list("content-length") == ["123"]

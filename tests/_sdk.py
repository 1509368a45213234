"""The installed google-genai, for the few tests whose expectation depends on its release.

tests/run --sdk VERSION runs the core tests on other releases of the supported range; where the
SDK itself behaves differently there (its default API version, the Vertex route of an embedding
model), the tests expect what that release does, read from its version number.
"""

from __future__ import annotations

from google.genai import version as _version

from golden_path._versions import release

VERSION: str = _version.__version__
RELEASE = release(VERSION)


def at_least(version: str) -> bool:
    """Whether the installed google-genai is ``version`` or newer."""
    return release(version) <= RELEASE


# 3.0 moved the Gemini API's default from v1beta to v1.
GEMINI_API_VERSION = "v1" if at_least("3.0") else "v1beta"


def vertex_embed_action(model: str, count: int) -> str:
    """The Vertex method the installed SDK calls for ``count`` contents embedded with ``model``.

    Before 3.4 gemini-embedding-001 went to ``:predict`` like the
    text-embedding models; from 3.4 every gemini model uses embedContent / batchEmbedContents.
    """
    gemini_route = "gemini" in model and (model != "gemini-embedding-001" or at_least("3.4"))
    if not gemini_route:
        return "predict"
    return "embedContent" if count == 1 else "batchEmbedContents"

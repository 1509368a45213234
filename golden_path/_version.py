"""Versions golden-path is built and tested against; pyproject.toml reads VERSION from here."""

VERSION = "0.1.0"
# The google-genai release golden-path is pinned to (pyproject.toml pins it with ==; a test keeps
# the two equal). Installed versions that differ are reported by `golden-path versions --check`.
PINNED_SDK_VERSION = "3.4.0"

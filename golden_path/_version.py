"""Versions golden-path is built and tested against; pyproject.toml reads VERSION from here."""

VERSION = "0.1.0"
# The google-genai release the base image locks (pyproject's range must contain it and the lock
# pins it with ==; tests/test_lock.py keeps the three in step). `golden-path versions` shows where
# an installed SDK sits relative to it.
PINNED_SDK_VERSION = "3.4.0"
# The google-genai releases golden-path supports: pyproject's Requires-Dist says exactly this
# (tests/test_lock.py). 2.18.0 is the first release whose HttpOptions accepts injected httpx2
# clients; the ceiling moves only after `golden-path upgrade-check` passes (docs/upgrading.md).
SDK_MINIMUM = "2.18.0"
SDK_BELOW = "3.7"
SDK_RANGE = f">={SDK_MINIMUM},<{SDK_BELOW}"
# What CI runs the core tests on besides the pin (tests/run --sdk): the floor and the newest.
SDK_TESTED = ("2.18.0", "2.34.0", "3.4.0", "3.6.1")

"""``python -m golden_path.gateway``: the same as ``golden-path gateway``."""

from __future__ import annotations

import sys

from golden_path.cli import main

if __name__ == "__main__":
    sys.exit(main(["gateway", *sys.argv[1:]]))

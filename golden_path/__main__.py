"""``python -m golden_path``: the golden-path command."""

from golden_path.cli import main

raise SystemExit(main())

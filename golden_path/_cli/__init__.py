"""One module per `golden-path` command group; each exposes register(subparsers)."""

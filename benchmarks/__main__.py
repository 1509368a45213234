import sys

if sys.argv[1:2] == ["pii"]:
    from benchmarks.pii import main
else:
    from benchmarks.run import main

raise SystemExit(main())

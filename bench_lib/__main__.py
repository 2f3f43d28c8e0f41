"""``python -m bench_lib``: see bench_lib.cli."""

import sys
import traceback

from bench_lib.cli import EXIT_INPUT, main

try:
    sys.exit(main())
except Exception:  # a bug, not bad input: keep the traceback, but never exit 1 ("a gate failed")
    traceback.print_exc()
    print("gradbench: internal error (a bug in gradbench; the traceback is above)", file=sys.stderr)
    sys.exit(EXIT_INPUT)

"""`python -m fdd.report DIR ... [--compare A B]` (fdd/report/cli.py)."""

import sys

from fdd.report.cli import main

sys.exit(main())

"""`python -m lerax ...`: the same as the `lerax` command."""

import sys

from lerax.cli import main

sys.exit(main())

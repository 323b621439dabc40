"""`python -m lerax.plot ...`: the same as `lerax plot ...`."""

from ._cli import main

raise SystemExit(main())

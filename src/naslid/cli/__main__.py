"""`python -m naslid.cli ...`: the `naslid` command line."""

import sys

from naslid.cli import main

sys.exit(main())

"""`python -m naslid ...` (and `torchrun ... -m naslid train ...`): the `naslid` command line."""

import sys

from naslid.cli import main

sys.exit(main())

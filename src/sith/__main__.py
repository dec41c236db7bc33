"""``python -m sith`` (and ``torchrun ... -m sith``): the ``sith`` command."""

import sys

from sith.cli import main

sys.exit(main())

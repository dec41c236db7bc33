"""``python -m sith.cli`` (and ``torchrun -m sith.cli``)."""

import sys

from sith.cli import main

sys.exit(main())

"""``python -m hvae``: see :mod:`hvae.cli`."""

import sys

from hvae.cli import main

if __name__ == "__main__":
    sys.exit(main())

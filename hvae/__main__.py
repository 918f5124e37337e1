"""``python -m hvae``: see :mod:`hvae.cli`."""

import sys

from hvae.cli import main

__all__: list[str] = []  # a script: nothing to import from here

if __name__ == "__main__":
    sys.exit(main())

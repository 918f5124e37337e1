"""``python -m hvae.experiments``: runs :func:`hvae.experiments.cli.main`."""

import sys

from hvae.experiments.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())

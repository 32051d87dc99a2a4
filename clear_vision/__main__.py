"""`python -m clear_vision`: the command line (guarded: Dask worker processes re-import the main module)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

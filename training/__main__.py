"""python -m training: the training commands, each run as python -m training.<command> (--help for its options)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = ("train_mask", "train_removal", "calibrate", "evaluate")  # in the order the shipped bundle was made


def main() -> int:
    print(__doc__.strip())
    for name in COMMANDS:
        summary = (importlib.import_module(f"training.{name}").__doc__ or "").strip().splitlines()[0]
        print(f"  {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

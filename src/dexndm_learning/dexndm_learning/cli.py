"""``python -m dexndm_learning.cli ...``: the dexndm command, runnable under torchrun."""

import sys

from dexndm_control.cli import main

if __name__ == "__main__":
    sys.exit(main())

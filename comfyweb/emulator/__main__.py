"""`python -m comfyweb.emulator [--host H] [--port P] [--step-ms MS] ...` (see cli.py)."""

import sys

from comfyweb.emulator.cli import main

if __name__ == "__main__":
    sys.exit(main())

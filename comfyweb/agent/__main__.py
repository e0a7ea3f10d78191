"""`python -m comfyweb.agent [--host H] [--port P] [--comfyui-url URL] [--store URL] ...` (see cli.py)."""

import sys

from comfyweb.agent.cli import main

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Make a synthetic corpus; a thin wrapper over `xmlload generate` (same options)."""

import sys

from xmlload.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))

#!/usr/bin/env python3
"""Worker-count benchmark; a thin wrapper over `xmlload bench` (same options), e.g.

    python scripts/benchmark_workers.py --contract contracts/credit_application.yaml \
        --source ../shared/corpus/xmlconversion-cc/xml --loop 20 \
        --target postgresql://postgres@127.0.0.1/test --workers 1,2 --out bench-results
"""

import sys

from xmlload.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

"""xmlload: contract-driven, parallel XML-to-relational loader.

`xmlload.load(contract=…, source=…, target=…, workers=…, **settings)` runs a load from
Python (see xmlload/api.py); the errors it raises are in `xmlload.errors`."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load"]


def __getattr__(name: str) -> Any:
    """`xmlload.load` is imported on first use, so `import xmlload` stays light."""
    if name == "load":
        from xmlload.api import load

        return load
    raise AttributeError(f"module 'xmlload' has no attribute {name!r}")

"""xmlload: contract-driven, parallel XML-to-relational loader."""

__version__ = "0.1.0"

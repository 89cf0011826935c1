"""Synthetic corpus: documents shaped like the shared corpus, written to files or a table."""

from xmlload.generate.documents import BAD_KINDS, DocumentGenerator, GeneratedDocument
from xmlload.generate.output import write_files, write_table

__all__ = ["BAD_KINDS", "DocumentGenerator", "GeneratedDocument", "write_files", "write_table"]

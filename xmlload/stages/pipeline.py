"""DocumentPipeline: validator -> parser -> validator (tree) -> mapper for one document.

Workers run it under a deadline; `xmlload verify` runs it to recompute what a document
should have written."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

from xmlload.contract.compiler import Plan
from xmlload.contract.paths import Element
from xmlload.errors import DocumentError
from xmlload.outcome import DocumentOutcome
from xmlload.sources.base import SourceDocument
from xmlload.stages.mapper import DataMapper
from xmlload.stages.parser import XMLParser
from xmlload.stages.validator import PreProcessingValidator
from xmlload.states import Stage


class DocumentPipeline:
    def __init__(self, plan: Plan, max_document_bytes: int) -> None:
        self.validator = PreProcessingValidator(plan, max_document_bytes)
        self.parser = XMLParser(plan.contract.document.doctype)
        self.mapper = DataMapper(plan)
        self.stage_seconds: Counter[str] = Counter()

    def run(self, document: SourceDocument, outcome: DocumentOutcome) -> None:
        """Fill `outcome` with rows, or raise DocumentError naming the failing stage."""
        clock = time.perf_counter()
        if document.data is None:
            raise DocumentError(Stage.SOURCE, document.error or "no data")
        root, text = self.parse(document.data)
        element, outcome.document_id = self.validator.check_tree(root, document.key)
        parsed = time.perf_counter()
        self.stage_seconds["validate+parse"] += parsed - clock
        mapped = self.mapper.map(root, element, outcome.document_id, text)
        self.stage_seconds["map"] += time.perf_counter() - parsed
        outcome.rows, outcome.notes = mapped.rows, mapped.notes

    def parse(self, data: bytes) -> tuple[Element, str | None]:
        """The document's tree, and its whole text when a search of the plan reads it (only
        then is all of it decoded before parsing); DocumentError naming the failing stage."""
        text = None
        if self.mapper.searches_text:
            text = self.validator.check_text(data)
        else:
            self.validator.check_bytes(data)
        try:
            return self.parser.parse(data), text
        except DocumentError:
            self.validator.check_encoding(data)  # a byte that does not decode, said as such
            raise

    def run_tree(self, root: Element, key: str, outcome: DocumentOutcome) -> None:
        """Like run, for a record already parsed (a standalone tree of a file of records)."""
        if outcome.size_bytes > self.validator.max_bytes:
            raise DocumentError(
                Stage.VALIDATION,
                f"record is {outcome.size_bytes:,} bytes, over the "
                f"{self.validator.max_bytes:,}-byte cap (max_document_bytes)",
            )
        clock = time.perf_counter()
        element, outcome.document_id = self.validator.check_tree(root, key)
        mapped_at = time.perf_counter()
        self.stage_seconds["validate+parse"] += mapped_at - clock
        mapped = self.mapper.map(root, element, outcome.document_id)
        self.stage_seconds["map"] += time.perf_counter() - mapped_at
        outcome.rows, outcome.notes = mapped.rows, mapped.notes

    def process(self, document: SourceDocument) -> DocumentOutcome:
        """The document's outcome; failures are recorded in it, never raised."""
        outcome = DocumentOutcome(
            document.key,
            datetime.now(),
            size_bytes=len(document.data or b""),
            fingerprint=document.fingerprint,
        )
        try:
            self.run(document, outcome)
        except DocumentError as error:
            outcome.fail(error.stage, error.message)
        outcome.finished_at = datetime.now()
        return outcome

"""The mapping contract as pydantic models: the shape a user writes in YAML or JSON."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xmlload.contract.types import parse_type

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """Accept plain SQL identifiers only: letters, digits, underscore, at most 63 chars."""
    if not IDENTIFIER.match(name):
        raise ValueError(
            f"{name!r} is not a plain identifier (letters, digits, underscore; "
            "must not start with a digit; at most 63 characters)"
        )
    return name


XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"  # `xml:`, declared by XML itself


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class IdFromSource(StrEnum):
    """A document id taken from its source key, for documents that carry none."""

    NAME = "name"  # the key after its last `/`: a file's name (`a.xml`, `a.xml#3` for a record)
    STEM = "stem"  # the name without `.xml` / `.xml.gz` (`a`, `a#3`)
    ROW = "row"  # a table row's id (`17`, `17#3` for a record)
    KEY = "key"  # the whole source key (a file's absolute path)


class DocumentId(Strict):
    path: str | None = Field(
        None, description="Where the document id is, e.g. /Provenir/Request/@ID"
    )
    source: IdFromSource | None = Field(
        None, description="Or: take the id from the source key (name, stem or key)"
    )
    column: str = Field("document_id", description="Column carrying the id in every table")
    type: str = "bigint"

    _column = field_validator("column")(check_identifier)

    @model_validator(mode="after")
    def _one_origin(self) -> DocumentId:
        if (self.path is None) == (self.source is None):
            raise ValueError(
                "give the id's path in the document, or source: name | stem | row | key to take "
                "it from the file name or row key (one of the two)"
            )
        return self

    @field_validator("type")
    @classmethod
    def _known_key_type(cls, value: str) -> str:
        kind = parse_type(value).kind
        if kind not in {"integer", "bigint", "string"}:
            raise ValueError("the document id type must be integer, bigint or string(N)")
        return value


class Doctype(StrEnum):
    """What a document's `<!DOCTYPE` may hold; no DTD or entity is ever fetched."""

    REFUSE = "refuse"  # no DOCTYPE at all
    ACCEPT = "accept"  # a DOCTYPE, with an internal subset that declares no entity
    ENTITIES = "entities"  # internal entity declarations too, expanded


class DocumentSpec(Strict):
    root: str = Field(description="Expected root element name")
    element: str = Field(description="Absolute path of the document-type element")
    id: DocumentId
    records: str | None = Field(
        None,
        description="Absolute path of record elements: each is a document of its own "
        "(one big file of many records), read streaming",
    )
    doctype: Doctype = Field(
        Doctype.ACCEPT,
        description="refuse: no DOCTYPE; accept: a DOCTYPE whose internal subset declares no "
        "entity (its attribute defaults apply); entities: internal entities too, expanded",
    )
    allow_doctype: bool | None = Field(
        None, description="The older spelling: true is doctype: accept, false doctype: refuse"
    )

    @model_validator(mode="after")
    def _older_spelling(self) -> DocumentSpec:
        if self.allow_doctype is None:
            return self
        older = Doctype.ACCEPT if self.allow_doctype else Doctype.REFUSE
        if "doctype" in self.model_fields_set and self.doctype != older:
            raise ValueError(
                f"allow_doctype: {str(self.allow_doctype).lower()} contradicts doctype: "
                f"{self.doctype.value}; keep doctype only"
            )
        object.__setattr__(self, "doctype", older)  # the model is frozen
        return self

    @field_validator("element", "records")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or "@" in value):
            raise ValueError("must be an absolute element path such as /Root/Child")
        return value


class Defaults(Strict):
    trim: bool = True
    overflow: Literal["truncate", "reject"] = "reject"
    invalid: Literal["fail", "null", "null_no_default"] = "fail"
    datetime_formats: list[str] = [
        "%Y-%m-%d %H:%M:%S.%f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S.%f",
        "%Y-%m-%dT%H:%M:%S",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %I:%M:%S %p",
        "%Y-%m-%d",
        "%m/%d/%Y",
    ]
    date_formats: list[str] = ["%Y-%m-%d", "%m/%d/%Y", "%Y%m%d", "%Y-%m-%d %H:%M:%S.%f"]
    fractional_integers: Literal["invalid", "round_half_up"] = Field(
        "invalid", description="A fractional value in an integer column: invalid, or rounded"
    )
    ignore_attribute_case: bool = Field(
        False, description="Attribute names match in any case when no exact match exists"
    )
    html_unescape: bool = Field(
        False, description="HTML entities in values read from the XML are decoded once more"
    )
    path_match: Literal["first", "last"] = Field(
        "first", description="Which element a path reads when it names several"
    )


class ValueMap(Strict):
    values: dict[str, Any]
    default: Any = None
    ignore_case: bool = True

    @field_validator("values")
    @classmethod
    def _no_blank_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        if any(not key.strip() for key in value):
            raise ValueError(
                "a blank key never matches: empty values are NULL before the "
                "map is applied; give the column a default instead"
            )
        return value


class Priority(Strict):
    attribute: str
    order: list[str]


class TemplateRange(Strict):
    from_: int = Field(alias="from")
    to: int

    @model_validator(mode="after")
    def _ascending(self) -> TemplateRange:
        if self.to < self.from_:
            raise ValueError(f"empty range: 'to' ({self.to}) is below 'from' ({self.from_})")
        return self


# `for: {n: [1, 2]}` or `for: {n: {from: 1, to: 20}}`: `{n}` in the spec's text is replaced.
Template = dict[str, list[str | int] | TemplateRange]


class UnpivotSpec(Strict):
    attributes: dict[str, str] = Field(
        description="attribute (or relative path to one) -> key written in the row"
    )
    skip_values: list[str] = Field(
        [], description="values that make no row, compared trimmed and in any case"
    )
    where: str | None = Field(None, description="expression over `key` and `value`")
    html_unescape: bool | None = Field(
        None, description="values html-unescaped once more (default: defaults.html_unescape)"
    )


PickTake = Literal["all", "first", "last", "first_with_value", "last_with_value", "last_of_paths"]
# takes that look at the value, so only a pick's last step may use them
VALUE_TAKES = frozenset({"first_with_value", "last_with_value", "last_of_paths"})


class PickStep(Strict):
    path: str = Field(description="Candidate elements, relative to the previous step")
    where: str | None = None
    prefer: str | None = Field(
        None, description="Of the candidates, those where this holds; all of them if none does"
    )
    take: PickTake = "all"
    optional: bool = Field(
        False, description="When the path finds no element, go on from the previous step's"
    )
    link: dict[str, str] = Field(
        {}, description="path from a candidate -> path from the previous step's element: "
        "only candidates whose values equal it (trimmed)",
    )  # fmt: skip


class PickSpec(Strict):
    path: str = Field(description="Candidate elements, relative to the row element or absolute")
    where: str | None = None
    link: dict[str, str] = Field(
        {}, description="path from a candidate -> path from the row's element: only "
        "candidates whose values equal it (trimmed)",
    )  # fmt: skip
    take: PickTake = "last"
    then: list[PickStep] = Field([], description="Further steps from the elements taken")
    value: str = Field(description="Path of the value, relative to the picked element")
    ignore_attribute_case: bool | None = Field(
        None, description="Attribute names in any case (default: the column's setting)"
    )

    @model_validator(mode="after")
    def _takes(self) -> PickSpec:
        takes = [self.take, *(step.take for step in self.then)]
        if takes[-1] == "all":
            raise ValueError("the last step must take one element: first, last or *_with_value")
        if any(take in VALUE_TAKES for take in takes[:-1]):
            raise ValueError(
                "first_with_value/last_with_value/last_of_paths only apply to the last step"
            )
        return self

    @property
    def steps(self) -> list[PickStep]:
        first = PickStep(path=self.path, where=self.where, take=self.take, link=self.link)
        return [first, *self.then]


class ItemInput(Strict):
    item: Literal["key", "value", "attribute"]


InputSpec = str | PickSpec | ItemInput


class ReadExpression(Strict):
    expr: str
    dialect: Literal["xmlload", "xmlconversion"] = "xmlload"
    inputs: dict[str, InputSpec] = {}


ReadSpec = str | PickSpec | ReadExpression


class RowsSpec(Strict):
    path: str = Field(description="Elements giving one row each, relative to the parent row")
    where: str | None = Field(None, description="Expression an element must satisfy")
    inputs: dict[str, str] = Field(
        {}, description="Names `where` may use: paths from the candidate (`../@role`)"
    )
    link: dict[str, str] = Field(
        {},
        description="path from the candidate -> path from the parent row's element: only "
        "candidates whose values equal the parent's (trimmed) give its rows",
    )
    ignore_attribute_case: bool | None = Field(
        None, description="Attribute names in where, inputs and link in any case (default: "
        "defaults.ignore_attribute_case)",
    )  # fmt: skip
    distinct_by: str | list[str] | None = Field(
        None, description="Attribute (or attributes) whose value (or values together) is unique"
    )
    priority: Priority | None = None
    keep: Literal["first", "last"] = Field(
        "first", description="Among equals under distinct_by: the first or the last"
    )
    take: Literal["all", "first", "last"] = "all"
    then: list[PickStep] = Field(
        [], description="Further steps from the elements taken, as a pick's; the last gives rows"
    )
    unpivot: dict[str, str] | UnpivotSpec | None = Field(
        None, description="attribute -> key: each non-empty attribute becomes one row"
    )
    set: dict[str, Any] = Field({}, description="column -> constant for this source's rows")
    read: dict[str, ReadSpec] = Field(
        {}, description="column -> where this source's rows read it (a path, pick or expr)"
    )
    for_: Template | None = Field(None, alias="for")

    @model_validator(mode="after")
    def _priority_needs_distinct(self) -> RowsSpec:
        if self.priority is not None and self.distinct_by is None:
            raise ValueError("priority only applies together with distinct_by")
        if "keep" in self.model_fields_set and self.distinct_by is None:
            raise ValueError("keep only applies together with distinct_by")
        if any(step.take in VALUE_TAKES for step in self.then):
            raise ValueError("a row source's then steps take all, first or last")
        return self

    @property
    def unpivot_spec(self) -> UnpivotSpec | None:
        if isinstance(self.unpivot, dict):
            return UnpivotSpec(attributes=self.unpivot)
        return self.unpivot


class FallbackSpec(Strict):
    path: str | None = None
    pick: PickSpec | None = None
    map: str | None = Field(None, description="Value map applied to the fallback value")

    @model_validator(mode="after")
    def _one_source(self) -> FallbackSpec:
        if (self.path is None) == (self.pick is None):
            raise ValueError("a fallback needs exactly one of path or pick")
        return self


class ColumnSpec(Strict):
    type: str
    description: str | None = None
    nullable: bool = True
    required: bool = False
    path: str | None = None
    paths: list[str] | None = None
    const: Any = None
    expr: str | None = None
    dialect: Literal["xmlload", "xmlconversion"] = Field(
        "xmlload", description="How expr is read: this language, or as XmlConversion reads it"
    )
    inputs: dict[str, InputSpec] = {}
    pick: PickSpec | None = None
    item: Literal["key", "value", "attribute"] | None = None
    map: str | None = None
    digits_only: bool | Literal["number"] = Field(
        False, description="Keep only the digits ('number': read as a number, no leading zeros)"
    )
    first_number: bool = Field(
        False, description="Read the first number in the text: '$40' -> 40, '12abc' -> 12"
    )
    drop_last: int = Field(0, ge=0, description="Remove the last N characters of a text value")
    fallback: FallbackSpec | None = Field(
        None, description="Where the value comes from when the column's source gives none"
    )
    trim: bool | None = None
    overflow: Literal["truncate", "reject"] | None = None
    invalid: Literal["fail", "null", "null_no_default"] | None = None
    default: Any = None
    formats: list[str] | None = None
    counts_as_data: bool | Literal["nonzero"] = Field(
        True, description="Whether a value shows that the row exists ('nonzero': unless 0)"
    )
    ignore_attribute_case: bool | None = None
    html_unescape: bool | None = None
    for_: Template | None = Field(None, alias="for")

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        parse_type(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSpec:
        sources = ["path", "paths", "const", "expr", "pick", "item"]
        given = [name for name in sources if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"give exactly one value source of {', '.join(sources)}; got {given}")
        if self.inputs and self.expr is None:
            raise ValueError("inputs only apply to expr")
        if "dialect" in self.model_fields_set and self.expr is None:
            raise ValueError("dialect only applies to expr")
        if self.paths is not None and not self.paths:
            raise ValueError("paths must list at least one path")
        return self


class TableSpec(Strict):
    description: str | None = None
    parent: str | None = None
    rows: RowsSpec | list[RowsSpec] | None = None
    where: str | None = Field(None, description="Condition for a one-row table's row")
    inputs: dict[str, InputSpec] = Field({}, description="Names used by where")
    keep_empty: bool = Field(False, description="Write rows even when every value is empty")
    unique_by: list[str] = Field(
        [], description="Columns whose values a document writes once: later repeats are dropped"
    )
    sequence_column: str | None = None
    history: Literal["replace", "keep"] | None = Field(
        None, description="This table's history (default: its parent's, else the contract's)"
    )
    columns: dict[str, ColumnSpec]

    @field_validator("columns")
    @classmethod
    def _column_names(cls, value: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        for name, spec in value.items():
            if spec.for_ is None:
                check_identifier(name)
            elif "{" not in name:
                raise ValueError(f"column {name!r} has 'for' but no {{name}} in its name")
        if not value:
            raise ValueError("a table needs at least one column")
        return value

    @field_validator("rows")
    @classmethod
    def _some_rows(cls, value: RowsSpec | list[RowsSpec] | None) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("rows must list at least one row source")
        return value

    @field_validator("sequence_column")
    @classmethod
    def _sequence_name(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier(value)

    @model_validator(mode="after")
    def _where_or_rows(self) -> TableSpec:
        if self.where is not None and self.rows is not None:
            raise ValueError("a table with rows filters them in rows.where, not where")
        if self.inputs and self.where is None:
            raise ValueError("inputs only apply to where")
        return self

    @property
    def row_sources(self) -> list[RowsSpec]:
        """The row sources in order; empty for a one-row-per-parent table."""
        if self.rows is None:
            return []
        return self.rows if isinstance(self.rows, list) else [self.rows]


class Contract(Strict):
    name: str = "contract"
    description: str | None = None
    document: DocumentSpec
    target_schema: str | None = None
    history: Literal["replace", "keep"] = Field(
        "replace",
        description="replace: a changed document's rows are replaced; keep: every table keeps "
        "each version (version, valid_from, valid_to), a document versioned as a whole",
    )
    extensions: list[str] = Field(
        [], description="Python modules imported before compiling; they may register functions"
    )
    fragments: dict[str, Any] = Field(
        {}, description="Free-form YAML anchors for reuse (`<<: *name`); not read otherwise"
    )
    namespaces: dict[str, str] = Field(
        {}, description="prefix -> namespace URI, for prefixed names in paths"
    )
    defaults: Defaults = Defaults()
    value_maps: dict[str, ValueMap] = {}
    tables: dict[str, TableSpec]

    @field_validator("tables")
    @classmethod
    def _table_names(cls, value: dict[str, TableSpec]) -> dict[str, TableSpec]:
        for name in value:
            check_identifier(name)
        if not value:
            raise ValueError("a contract needs at least one table")
        return value

    @field_validator("namespaces")
    @classmethod
    def _prefixes(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix, uri in value.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", prefix):
                raise ValueError(f"namespace prefix {prefix!r} is not a plain name")
            if not uri.strip():
                raise ValueError(f"namespace prefix {prefix!r} needs a URI")
            if prefix == "xml" and uri != XML_NAMESPACE:
                raise ValueError(f"the prefix 'xml' is bound to {XML_NAMESPACE} by XML itself")
        return value

    @field_validator("target_schema")
    @classmethod
    def _schema_name(cls, value: str | None) -> str | None:
        return None if value is None else check_identifier(value)

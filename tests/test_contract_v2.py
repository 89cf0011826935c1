"""Contract language v2: several row sources, templates, descendant and namespaced paths,
pick steps, MAP(), row existence, unpivot filters, keep first/last, attribute case,
fractional integers, warnings. Each feature is loaded from YAML and run on a document."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import write_contract
from xmlload.contract.loader import load_plan
from xmlload.errors import ContractError, DocumentError
from xmlload.stages.mapper import DataMapper, MappedDocument
from xmlload.stages.parser import XMLParser
from xmlload.stages.validator import PreProcessingValidator

HEAD = """document:
  root: Doc
  element: /Doc/app
  id: {path: /Doc/@id, column: doc_id, type: integer}
"""

DOCUMENT = b"""<Doc id="7"><app name="A" Mixed_Case="m" slot1_make="Ford" slot1_year="1999"
  slot2_make="" slot2_year="" slot3_make="Fiat" slot3_year="2001" f1="a" f2="b" f3="">
  <product score="12.5" neg="-5.5" h1="x" h2="null" h3=" None " flag_a="Y" flag_b="n"/>
  <person pid="1" role="PR" ring="first"><address kind="CURR" pay=""/>
    <address kind="CURR" pay="800"/></person>
  <person pid="1" role="PR" ring="second"><address kind="PREV" pay="5"/></person>
  <person pid="2" role="AU" card="Y"><address kind="CURR" pay="9"/></person>
  <group><deep><person pid="9" role="PR" ring="deep"/></deep></group>
  <job kind="CURR" salary="0" name=""/><job kind="PREV" salary="10" name=""/>
  <job kind="CURR" salary="" name="" flag="Y"/>
</app></Doc>"""


def plan_for(tmp_path: Path, body: str):
    return load_plan(write_contract(tmp_path, HEAD + body))


def run(plan, data: bytes = DOCUMENT) -> MappedDocument:
    validator = PreProcessingValidator(plan, 1 << 20)
    root = XMLParser().parse(validator.check_bytes(data))
    element, document_id = validator.check_tree(root)
    return DataMapper(plan).map(root, element, document_id)


def problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ContractError) as error:
        plan_for(tmp_path, body)
    return error.value.problems


def test_several_row_sources_with_their_own_constants_and_running_sequence(tmp_path) -> None:
    plan = plan_for(
        tmp_path,
        """tables:
  app: {columns: {name: {type: string(5), path: "@name"}}}
  history:
    parent: app
    rows:
      - path: product
        set: {source: "[product]"}
        unpivot: {h1: "[h1]"}
      - path: person
        where: role = 'PR'
        take: last
        set: {source: "[person]"}
        unpivot: {ring: "[ring]"}
    columns:
      name: {type: string(10), item: key}
      source: {type: string(10), const: null}
      value: {type: string(10), item: value}
""",
    )
    assert run(plan).rows["history"] == [
        (7, 1, "[h1]", "[product]", "x"),
        (7, 2, "[ring]", "[person]", "second"),
    ]


def test_set_must_name_a_const_column(tmp_path) -> None:
    found = problems(
        tmp_path,
        """tables:
  t:
    rows: [{path: product, set: {name: x}}]
    columns: {name: {type: string(5), path: "@h1"}}
""",
    )
    assert any("tables.t.rows.0.set.name" in p and "with a const value" in p for p in found)


SLOTS = """tables:
  app:
    columns:
      "f_{n}": {for: {n: {from: 1, to: 3}}, type: string(5), path: "@f{n}"}
  slot:
    parent: app
    rows:
      path: .
      for: {n: [1, 2, 3]}
      set: {number: "{n}"}
    columns:
      number: {type: smallint, const: null}
      make: {type: string(10), path: "@slot{n}_make"}
      year: {type: smallint, path: "@slot{n}_year"}
"""


def test_templates_repeat_columns_and_attribute_groups(tmp_path) -> None:
    plan = plan_for(tmp_path, SLOTS)
    assert plan.tables[0].column_names == ["doc_id", "f_1", "f_2", "f_3"]
    rows = run(plan).rows
    assert rows["app"] == [(7, "a", "b", None)]
    # slot 2 has no data: no row; the sequence runs on
    assert rows["slot"] == [(7, 1, 1, "Ford", 1999), (7, 2, 3, "Fiat", 2001)]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('path: "@slot{n}_make"', 'path: "@slot{m}_make"', "unknown template name {m}"),
        ("for: {n: [1, 2, 3]}", "for: {n: [1, 2], m: [1]}", "equally long"),
        ("to: 3}", "to: 0}", "empty range"),
        ('"f_{n}": {for', '"f_n": {for', "has 'for' but no {name}"),
    ],
)
def test_template_mistakes_are_reported(tmp_path, old: str, new: str, message: str) -> None:
    assert old in SLOTS
    found = problems(tmp_path, SLOTS.replace(old, new))
    assert any(message in p and "contract.yaml:" in p for p in found), found


PICKS = """value_maps:
  yes_no: {values: {Y: 1, N: 0}}
tables:
  app:
    columns:
      deep_ring: {type: string(10), path: "//person/@ring"}
      all_rings: {type: string(10), pick: {path: "//person", where: "ring = 'deep'", take: last,
                                           value: "@role"}}
      pay:
        type: integer
        pick:
          path: person
          where: role = 'PR'
          take: first
          then: [{path: address, where: "kind = 'CURR'", take: first_with_value}]
          value: "@pay"
      last_pay:
        type: integer
        pick: {path: person, take: all, then: [{path: address, take: last_with_value}],
               value: "@pay"}
      au_card:
        type: smallint
        expr: CASE WHEN role IS NOT EMPTY THEN COALESCE(MAP('yes_no', card), 0) END
        inputs:
          role: {path: person, where: "role = 'AU'", take: last, value: "@role"}
          card: {path: person, where: "role = 'AU'", take: last, value: "@card"}
      flag_b: {type: smallint, expr: "MAP('yes_no', f)", inputs: {f: product/@flag_b}}
"""


def test_descendant_paths_pick_steps_and_map_in_expressions(tmp_path) -> None:
    plan = plan_for(tmp_path, PICKS)
    # first match anywhere below: the first person's ring; the deep one only by filter
    assert run(plan).rows["app"] == [(7, "first", "PR", 800, 9, 1, 0)]


def test_map_names_an_existing_map(tmp_path) -> None:
    found = problems(tmp_path, PICKS.replace("MAP('yes_no', f)", "MAP('nope', f)"))
    assert any("unknown value map 'nope'" in p and ".expr" in p for p in found), found
    found = problems(tmp_path, PICKS.replace("MAP('yes_no', f)", "MAP(f, f)"))
    assert any("takes a value map name in quotes" in p for p in found), found


def test_pick_with_value_only_on_the_last_step(tmp_path) -> None:
    text = PICKS.replace("take: all, then", "take: first_with_value, then")
    assert any("only apply to the last step" in p for p in problems(tmp_path, text))


NAMESPACED = b"""<o:orders xmlns:o="urn:example:orders" xmlns:x="urn:x"><o:order number="55">
<o:line x:qty="3" sku="A"/><o:line x:qty="4" sku="B"/></o:order></o:orders>"""
DEFAULT_NAMESPACE = b"""<orders xmlns="urn:example:orders"><order number="56">
<line qty="1" sku="C"/></order></orders>"""


def test_namespaces_prefixed_and_default(tmp_path) -> None:
    plan = load_plan(
        write_contract(
            tmp_path,
            """namespaces: {o: "urn:example:orders", x: "urn:x"}
document:
  root: o:orders
  element: /o:orders/o:order
  id: {path: /o:orders/o:order/@number, type: integer}
tables:
  order_line:
    rows: {path: o:line}
    columns:
      sku: {type: string(5), path: "@sku"}
      qty: {type: smallint, path: "@x:qty"}
""",
        )
    )
    assert run(plan, NAMESPACED).rows["order_line"] == [(55, 1, "A", 3), (55, 2, "B", 4)]
    assert run(plan, DEFAULT_NAMESPACE).rows["order_line"] == [(56, 1, "C", None)]
    with pytest.raises(DocumentError, match="root element"):
        run(plan, b'<orders><order number="1"/></orders>')


def test_unknown_namespace_prefix_is_reported(tmp_path) -> None:
    found = problems(tmp_path, 'tables: {t: {columns: {a: {type: string(5), path: "@q:a"}}}}\n')
    assert any(
        "unknown namespace prefix 'q'" in p and "tables.t.columns.a.path" in p for p in found
    )


def test_the_xml_prefix_needs_no_declaration(tmp_path) -> None:
    plan = plan_for(
        tmp_path, 'tables: {t: {columns: {lang: {type: string(5), path: "@xml:lang"}}}}\n'
    )
    document = b'<Doc id="3"><app xml:lang="fr-CA"/></Doc>'
    assert run(plan, document).rows["t"] == [(3, "fr-CA")]
    body = 'namespaces: {xml: "urn:other"}\ntables: {t: {columns: {a: {type: string(5)}}}}\n'
    found = problems(tmp_path, body)
    assert any("the prefix 'xml' is bound to http://www.w3.org/XML/1998/namespace" in p
               for p in found)  # fmt: skip


EXISTENCE = """value_maps:
  yn: {values: {Y: 1, N: 0}}
tables:
  app: {columns: {name: {type: string(5), path: "@name"}}}
  job:
    parent: app
    rows: {path: job}
    columns:
      kind: {type: string(4), path: "@kind", counts_as_data: false}
      flag: {type: smallint, path: "@flag", map: yn, default: 0, counts_as_data: false}
      salary: {type: "decimal(8,2)", path: "@salary", counts_as_data: nonzero}
  every_job:
    parent: app
    rows: {path: job}
    keep_empty: true
    columns:
      name: {type: string(5), path: "@name", default: "NONE"}
  product_row:
    parent: app
    where: flag IS NOT EMPTY AND flag <> 'Y'
    inputs: {flag: product/@flag_b}
    columns:
      h1: {type: string(5), path: "product/@h1"}
  no_product_row:
    parent: app
    where: product/@flag_a = 'n'
    columns:
      h1: {type: string(5), path: "product/@h1"}
"""


def test_row_existence_options(tmp_path) -> None:
    text = EXISTENCE.replace(
        "where: product/@flag_a = 'n'", "where: flag = 'n'\n    inputs: {flag: product/@flag_a}"
    )
    rows = run(plan_for(tmp_path, text)).rows
    # salary 0 and a flag alone are not data; salary 10 is
    assert rows["job"] == [(7, 1, "PREV", 0, Decimal("10.00"))]
    assert rows["every_job"] == [(7, 1, "NONE"), (7, 2, "NONE"), (7, 3, "NONE")]
    assert rows["product_row"] == [(7, "x")]
    assert rows["no_product_row"] == []


def test_where_on_a_table_with_rows_is_refused(tmp_path) -> None:
    text = EXISTENCE.replace(
        "    rows: {path: job}\n    keep_empty",
        "    rows: {path: job}\n    where: x = 1\n    keep_empty",
    )
    assert any("filters them in rows.where" in p for p in problems(tmp_path, text))


def test_unpivot_filters_keep_last_inputs_from_items_case_and_rounding(tmp_path) -> None:
    plan = plan_for(
        tmp_path,
        """defaults: {fractional_integers: round_half_up, ignore_attribute_case: true}
tables:
  app:
    columns:
      mixed: {type: string(5), path: "@mixed_case"}
      exact: {type: string(5), path: "@mixed_case", ignore_attribute_case: false}
      score: {type: smallint, path: product/@score}
      neg: {type: smallint, path: product/@neg}
  history:
    parent: app
    rows:
      path: product
      unpivot:
        attributes: {h1: one, h2: two, h3: three, flag_a: four, flag_b: five}
        skip_values: ["null", "none"]
        where: key <> 'five'
    columns:
      name: {type: string(10), item: attribute}
      label:
        type: string(20)
        expr: "key || '=' || UPPER(v)"
        inputs: {v: {item: value}, key: {item: key}}
  person:
    parent: app
    rows: {path: person, distinct_by: pid, keep: last}
    columns:
      ring: {type: string(10), path: "@ring"}
""",
    )
    rows = run(plan).rows
    assert rows["app"] == [(7, "m", None, 13, -6)]
    assert rows["history"] == [(7, 1, "h1", "one=X"), (7, 2, "flag_a", "four=Y")]
    assert rows["person"] == [(7, 1, "second")]  # keep: first would give "first"


def test_fractions_are_invalid_by_default(tmp_path) -> None:
    plan = plan_for(
        tmp_path, "tables: {app: {columns: {s: {type: smallint, path: product/@score}}}}\n"
    )
    with pytest.raises(DocumentError, match="not a whole number"):
        run(plan)


def test_unused_input_is_a_warning_not_an_error(tmp_path) -> None:
    path = write_contract(
        tmp_path,
        HEAD
        + """fragments:
  inputs: &shared {a: "@f1", b: "@f2"}
tables:
  app:
    columns:
      only_a: {type: string(5), expr: "UPPER(a)", inputs: *shared}
""",
    )
    plan = load_plan(path)
    assert run(plan).rows["app"] == [(7, "A")]
    assert len(plan.warnings) == 1
    assert f"{path}:" in plan.warnings[0]
    assert "tables.app.columns.only_a.inputs.b: input is not used" in plan.warnings[0]
    done = subprocess.run(
        [sys.executable, "-m", "xmlload", "contract", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stdout and "input is not used" in done.stdout


@pytest.mark.parametrize(
    ("body", "place", "message"),
    [
        (
            "tables: {t: {rows: {path: p, keep: last}, columns: {a: {type: integer, const: 1}}}}",
            "tables.t.rows",
            "keep only applies together with distinct_by",
        ),
        (
            'tables: {t: {rows: {path: p, unpivot: {attributes: {x: X}, where: "y = 1"}},'
            " columns: {a: {type: string(5), item: key}}}}",
            "tables.t.rows",
            "unpivot.where may read only key and value",
        ),
        (
            "tables: {t: {columns: {a: {type: integer, path: '@a', counts_as_data: maybe}}}}",
            "tables.t.columns.a.counts_as_data",
            "",
        ),
        (
            "tables: {t: {rows: [], columns: {a: {type: integer, const: 1}}}}",
            "tables.t.rows",
            "at least one row source",
        ),
        (
            "namespaces: {'o x': 'urn:a'}\ntables: {t: {columns: {a: {type: integer, const: 1}}}}",
            "namespaces",
            "is not a plain name",
        ),
    ],
)
def test_v2_mistakes_name_file_line_and_place(
    tmp_path, body: str, place: str, message: str
) -> None:
    found = problems(tmp_path, body + "\n")
    assert any(f"contract.yaml:{5}: {place}" in p and message in p for p in found), found


def test_union_errors_name_the_place_the_user_wrote(tmp_path) -> None:
    """`rows` is a source or a list of them: only the form written is reported on."""
    found = problems(
        tmp_path,
        "tables: {t: {rows: {path: p, keep: last}, columns: {a: {type: integer, const: 1}}}}\n",
    )
    assert found == [
        f"{tmp_path / 'contract.yaml'}:5: tables.t.rows: keep only applies together with "
        "distinct_by"
    ]


def test_html_unescape_decodes_entities_once_more_where_asked(tmp_path) -> None:
    plan = plan_for(
        tmp_path,
        """defaults: {html_unescape: true}
tables:
  app:
    columns:
      name: {type: string(40), path: "@name"}
      raw: {type: string(40), path: "@name", html_unescape: false}
      shout: {type: string(40), expr: "UPPER(name)"}
      fn: {type: string(40), expr: "HTML_UNESCAPE(x)", inputs: {x: "@other"},
           html_unescape: false}
  kv:
    parent: app
    rows: {path: ., unpivot: {other: "[other]"}}
    columns:
      value: {type: string(40), item: value}
""",
    )
    data = b'<Doc id="7"><app name="AT&amp;amp;T &amp;lt;b&amp;gt;" other="a&amp;amp;b"/></Doc>'
    mapped = run(plan, data)
    assert [row[1:] for row in mapped.rows["app"]] == [
        ("AT&T <b>", "AT&amp;T &lt;b&gt;", "AT&T <B>", "a&b")
    ]
    assert mapped.rows["kv"][0][-1] == "a&b"


def test_a_pick_step_can_prefer_some_candidates_and_be_optional(tmp_path) -> None:
    plan = plan_for(
        tmp_path,
        """tables:
  app:
    columns:
      only_prev: {type: integer, pick: {path: person, where: "ring = 'second'", take: last,
        then: [{path: address, prefer: "kind = 'CURR'", take: first_with_value}],
        value: "@pay"}}
      curr: {type: integer, pick: {path: person, where: "ring = 'first'", take: last,
        then: [{path: address, prefer: "kind = 'CURR'", take: first_with_value}],
        value: "@pay"}}
      no_address: {type: string(9), pick: {path: "//person", where: "pid = '9'", take: last,
        then: [{path: address, take: last, optional: true}], value: "@ring"}}
      has_address: {type: string(9), pick: {path: "//person", where: "pid = '2'", take: last,
        then: [{path: address, take: last, optional: true}], value: "@kind"}}
""",
    )
    # no CURR address: any address (PREV, 5); CURR ones: the first with a value (800); a
    # person without addresses: its own attribute; with one: the address's
    assert run(plan).rows["app"][0][1:] == (5, 800, "deep", "CURR")


def test_rows_linked_to_their_parent_by_value_filtered_by_an_ancestor_and_unique(
    tmp_path,
) -> None:
    plan = plan_for(
        tmp_path,
        """tables:
  app: {columns: {name: {type: string(5), path: "@name"}}}
  person:
    parent: app
    rows: {path: "//person", distinct_by: pid, keep: last}
    columns:
      pid: {type: integer, path: "@pid"}
      ring: {type: string(9), path: "@ring"}
      first_ring: {type: string(9), pick: {path: "/Doc//person", link: {"@pid": "@pid"},
                                           take: first, value: "@ring"}}
  address:
    parent: person
    rows:
      path: /Doc/app/person/address
      link: {"../@pid": "@pid"}
      where: "role = 'PR'"
      inputs: {role: "../@role"}
    unique_by: [pid, kind]
    columns:
      pid: {type: integer, path: "../@pid"}
      kind: {type: string(4), path: "@kind"}
      pay: {type: integer, path: "@pay"}
""",
    )
    mapped = run(plan)
    persons = [row[2:] for row in mapped.rows["person"]]
    # a pick linked by value: the first person element with the row's pid
    assert persons == [(1, "second", "first"), (2, None, None), (9, "deep", "deep")]
    # pid 1's row takes the addresses of both pid-1 persons (the first CURR only); pid 2's
    # parent is not PR; the deep person's addresses are not at the path
    addresses = [(row[1], *row[-3:]) for row in mapped.rows["address"]]
    assert addresses == [(1, 1, "CURR", None), (1, 1, "PREV", 5)]


def test_distinct_by_several_attributes_together(tmp_path) -> None:
    plan = plan_for(
        tmp_path,
        """tables:
  app: {columns: {name: {type: string(5), path: "@name"}}}
  person:
    parent: app
    rows: {path: "//person", distinct_by: [pid, role], keep: last}
    columns: {pid: {type: integer, path: "@pid"}, ring: {type: string(9), path: "@ring"}}
  one_per_pid_and_kind:
    parent: app
    rows: {path: "person/address", distinct_by: [kind], keep: first}
    columns: {kind: {type: string(4), path: "@kind"}, pay: {type: integer, path: "@pay"}}
""",
    )
    mapped = run(plan)
    assert [row[2:] for row in mapped.rows["person"]] == [(1, "second"), (2, None), (9, "deep")]
    assert [row[2:] for row in mapped.rows["one_per_pid_and_kind"]] == [("CURR", None), ("PREV", 5)]


def test_template_values_carry_whole_expressions_per_slot(tmp_path) -> None:
    plan = plan_for(
        tmp_path,
        """tables:
  app: {columns: {name: {type: string(5), path: "@name"}}}
  slot:
    parent: app
    rows:
      path: .
      for:
        n: [1, 2, 3]
        kind: ["CASE WHEN make = 'Ford' THEN 'car' ELSE 'other' END", "'boat'",
               "CASE WHEN year > 2000 THEN 'new' END"]
      set: {slot: "{n}"}
      read:
        make: "@slot{n}_make"
        kind: {expr: "{kind}", inputs: {make: "@slot{n}_make", year: "@slot{n}_year"}}
    columns:
      slot: {type: smallint, const: null}
      make: {type: string(9), const: null}
      kind: {type: string(9), const: null}
""",
    )
    rows = [row[2:] for row in run(plan).rows["slot"]]
    # each slot its own expression (slot 2's constant makes its row)
    assert rows == [(1, "Ford", "car"), (2, None, "boat"), (3, "Fiat", "new")]


def test_last_of_paths_takes_the_last_path_to_carry_the_attribute(tmp_path) -> None:
    plan = plan_for(
        tmp_path,
        """tables:
  app:
    columns:
      last_of_paths: {type: string(9), pick: {path: "/Doc//*", take: last_of_paths,
                                              value: "@ring"}}
      last_with_value: {type: string(9), pick: {path: "/Doc//*", take: last_with_value,
                                                value: "@ring"}}
""",
    )
    # /Doc/app/person first occurs before /Doc/app/group/deep/person: the deep one wins
    # either way here; a blank on a later path would win for last_of_paths only
    assert run(plan).rows["app"][0][1:] == ("deep", "deep")
    data = DOCUMENT.replace(b'<group><deep><person pid="9" role="PR" ring="deep"/>',
                            b'<group><deep><person pid="9" role="PR" ring=""/>')  # fmt: skip
    assert run(plan, data).rows["app"][0][1:] == (None, "second")

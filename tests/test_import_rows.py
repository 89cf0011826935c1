"""`contract import`: contacts, addresses, employment, contact extractors and expressions
in tables (spec §4.2-§4.5, §5.10-§5.13, §7, §8.3-§8.4)."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal

from tests.reference.harness import APP, BASE, document, load, mapping, one

T = "app_things"
C, A, E = "app_contact_base", "app_contact_address", "app_contact_employment"
CONTACT, ADDRESS, JOB = (
    f"{APP}/contact",
    f"{APP}/contact/contact_address",
    f"{APP}/contact/contact_employment",
)

PEOPLE = document(
    'Consent="yes"',
    """
<contact con_id="1" ac_role_tp_c="PR" first_name="Ann" birth_date="1980-01-01">
  <contact_address address_tp_c="CURR" city="Boise" home_phone="(208) 555-0101"/>
  <contact_address address_tp_c="curr" city="Old"/>
  <contact_address address_tp_c="MAIL" city="Mail"/>
  <contact_address address_tp_c="PREV"/>
  <contact_employment employment_tp_c="CURR" b_name="Acme" b_salary="1200"
     b_salary_basis_tp_c="MONTH"/>
  <contact_employment employment_tp_c="PREV" b_name="" b_salary="0"/>
</contact>
<contact con_id="2" ac_role_tp_c="AUTHU" first_name="Bob"/>
<contact con_id="3" ac_role_tp_c="pr" first_name="Cy"/>
<contact con_id="4" ac_role_tp_c="PR"/>
<contact con_id="1" ac_role_tp_c="AUTHU" last_name="Dup"/>
""",
)


def people_mappings() -> list[dict]:
    return [
        mapping(C, "con_id", CONTACT, "con_id", "int", mapping_type=["identity_insert"]),
        mapping(C, "first_name", CONTACT, "first_name", data_length=50),
        mapping(C, "contact_type_enum", CONTACT, "ac_role_tp_c", "smallint", mapping_type=["enum"]),
        mapping(C, "home_phone", ADDRESS, "home_phone", data_length=10,
                mapping_type=["curr_address_only", "numbers_only"]),
        mapping(C, "consent", APP, "Consent"),
        mapping(C, "consent_lower", APP, "consent"),
        mapping(A, "address_type_enum", ADDRESS, "address_tp_c", "smallint", mapping_type=["enum"]),
        mapping(A, "city", ADDRESS, "city", data_length=50, default_value="MISSING"),
        mapping(E, "business_name", JOB, "b_name", data_length=50),
        mapping(E, "monthly_salary", JOB, "b_salary", "decimal", mapping_type=["calculated_field"],
                expression="CASE WHEN b_salary_basis_tp_c = 'MONTH' THEN b_salary * 12 "
                           "ELSE b_salary END"),
    ]  # fmt: skip


def test_contacts_addresses_and_employment(tmp_path) -> None:
    found = load(tmp_path, people_mappings(), PEOPLE)
    contacts = [(r["con_id"], r["first_name"], r["contact_type_enum"], r["home_phone"],
                 r["consent"], r["consent_lower"]) for r in found[C]]  # fmt: skip
    # §4.3: con_id and a listed role (case-sensitive: `pr` is out, Q32), some personal
    # data (con_id 4 has none), one per con_id with PR preferred; §5.13 the last CURR
    # address of the last element with the con_id: Ann's AUTHU duplicate comes later and has
    # none (Q19); rule 5: the application attribute, exact case
    assert contacts == [(1, "Ann", 281, None, "yes", None),
                        (2, "Bob", 280, None, "yes", None)]  # fmt: skip
    moved = PEOPLE.replace(b'<contact con_id="1" ac_role_tp_c="AUTHU" last_name="Dup"/>', b"")
    phones = [r["home_phone"] for r in load(tmp_path, people_mappings(), moved)[C]]
    assert phones == ["2085550101", None]  # without the duplicate: Ann's own CURR address
    # §4.4: listed types in any case ("curr" is CURR, so §9 keeps the first of the two);
    # an empty PREV address is a row thanks to the city default (Q21); MAIL is not listed
    addresses = [(r["con_id"], r["address_type_enum"], r["city"]) for r in found[A]]
    assert addresses == [(1, 320, "Boise"), (1, 321, "MISSING")]
    # §8.4: the PREV job has no name, no salary other than 0: no row; Q16 MONTH * 12
    jobs = [(r["con_id"], r["business_name"], r["monthly_salary"]) for r in found[E]]
    assert jobs == [(1, "Acme", Decimal("14400.00"))]


EXTRACT = document(
    "",
    """
<contact con_id="1" ac_role_tp_c="PR" first_name="Ann" bank="111">
  <contact_address address_tp_c="PREV" rent="5"/>
  <contact_address address_tp_c="CURR" rent=""/>
  <contact_address address_tp_c="CURR" rent="700"/>
  <app_prod_bcard credit_line="100"/><app_prod_bcard credit_line="200"/>
</contact>
<contact con_id="" ac_role_tp_c="PR" first_name="NoId" bank="999"/>
<contact con_id="2" ac_role_tp_c="AUTHU" first_name="Bob">
  <app_prod_bcard issue_card_ind="Y"/></contact>
<contact con_id="" ac_role_tp_c="AUTHU" first_name="Late">
  <app_prod_bcard issue_card_ind="N"/></contact>
""",
)


def test_contact_extractors(tmp_path) -> None:
    pr, sec = ["last_valid_pr_contact"], ["last_valid_sec_contact"]
    found = load(tmp_path, [
        mapping(T, "bank", CONTACT, "bank", mapping_type=pr),
        mapping(T, "bank_case", CONTACT, "BANK", mapping_type=pr),
        mapping(T, "rent", ADDRESS, "rent", "decimal", mapping_type=pr),
        mapping(T, "credit", f"{CONTACT}/app_prod_bcard", "credit_line", "int", mapping_type=pr),
        mapping(T, "secondary", CONTACT, "first_name", mapping_type=sec),
        mapping(T, "card", f"{CONTACT}/app_prod_bcard", "issue_card_ind", "bit",
                mapping_type=["authu_contact", "char_to_bit"]),
        mapping(T, "last_any", CONTACT, "first_name"),
    ], EXTRACT)  # fmt: skip
    row = one(found, T)
    # §5.10: the last PR with a con_id; its first CURR address with a value; its last
    # app_prod_bcard; attribute names are exact; §5.11 the last AUTHU with a con_id; §5.12
    # the last AUTHU even without con_id (Q23); rule 7: the last contact element (Q27)
    assert [row[c] for c in ("bank", "bank_case", "rent", "credit", "secondary", "card",
                             "last_any")] == ["111", None, Decimal("700.00"), 200, "Bob",
                                              False, "Late"]  # fmt: skip


def test_sparse_primary_contact_wins_and_gives_nothing(tmp_path) -> None:
    # Q22: the last PR with a con_id wins even without data
    found = load(
        tmp_path,
        [
            mapping(T, "name", CONTACT, "first_name", mapping_type=["last_valid_pr_contact"]),
            mapping(T, "other", APP, "x"),
        ],
        PEOPLE.replace(b'Consent="yes"', b'x="1"'),
    )
    assert one(found, T)["name"] is None


def test_application_expressions_see_the_whole_document(tmp_path) -> None:
    # §7.2/Q14: a bare name is the last element carrying it; tag.attr the last such element;
    # application.attr the application element; the enum falls back on the attribute (§5.7)
    xml = document('x="app" pop="BL" code="A"', '<app_product x="product" score="7"/>'
                   '<rmts_info x="rmts"/>')  # fmt: skip
    found = load(tmp_path, [
        mapping(T, "bare", f"{APP}/app_product", "x", mapping_type=["calculated_field"],
                expression="CASE WHEN x IS NOT EMPTY THEN x END"),
        mapping(T, "qualified", f"{APP}/app_product", "score", "int",
                mapping_type=["calculated_field"],
                expression="CASE WHEN application.pop = 'BL' THEN app_product.score END"),
        mapping(T, "months", APP, "m", "int", mapping_type=["calculated_field"],
                expression="app_product.score + (app_product.score * 12)"),
        mapping(T, "status_enum", APP, "code", "smallint",
                mapping_type=["calculated_field", "enum"],
                expression="CASE WHEN pop = 'ZZ' THEN 'B' END"),
        mapping(T, "app_id_text", APP, "x", mapping_type=["calculated_field"],
                expression="CASE WHEN app_id IS NOT EMPTY THEN app_id END"),
    ], xml)  # fmt: skip
    row = one(found, T)
    assert [row[c] for c in ("bare", "qualified", "months", "status_enum", "app_id_text")] == [
        "rmts", 7, 91, 1, "42"]  # fmt: skip


def test_fixed_expressions_use_our_language(tmp_path) -> None:
    # --fix-reference-defects: `x > 0` compares numbers, AND binds tighter than OR
    columns = [
        mapping(
            T,
            "positive",
            APP,
            "x",
            mapping_type=["calculated_field"],
            expression="CASE WHEN x > 0 THEN 'yes' ELSE 'no' END",
        )
    ]
    faithful = one(load(tmp_path, columns, document('x="0"')), T)
    fixed = one(load(tmp_path, columns, document('x="0"'), fix=True), T)
    assert (faithful["positive"], fixed["positive"]) == ("yes", "no")


def test_arithmetic_the_reference_refuses_is_null_there_and_ours_when_fixed(tmp_path) -> None:
    # §7.7/Q15: `%` and a top-level DATEADD are refused by the reference: always NULL
    columns = [mapping(T, "odd", APP, "x", "int", mapping_type=["calculated_field"],
                       expression="x % 2"),
               mapping(T, "next_day", APP, "d", "datetime", mapping_type=["calculated_field"],
                       expression="DATEADD(day, 1, d)"),
               mapping(T, "other", APP, "o")]  # fmt: skip
    xml = document('x="7" d="2023-01-30" o="1"')
    faithful = one(load(tmp_path, columns, xml), T)
    assert (faithful["odd"], faithful["next_day"]) == (None, None)
    fixed = one(load(tmp_path, columns, xml, fix=True), T)
    assert fixed["odd"] == 1
    assert fixed["next_day"].date().isoformat() == "2023-01-31"


def test_values_from_xml_data_are_unescaped_twice_and_contact_values_once(tmp_path) -> None:
    # §4.1/§6.7: xml_data attributes are html-unescaped after lxml (&amp;lt; -> <); values
    # read from lxml elements (contacts, addresses, last_valid_pr_contact) are not
    escaped = "A&amp;amp;B &amp;lt;x&amp;gt;"
    xml = document(f'note="{escaped}"', f"""
<contact con_id="1" ac_role_tp_c="PR" first_name="{escaped}">
  <contact_address address_tp_c="CURR" city="{escaped}"/>
</contact>""")  # fmt: skip
    columns = [
        mapping(T, "note", APP, "note", data_length=40),
        mapping(T, "primary_name", CONTACT, "first_name", data_length=40,
                mapping_type=["last_valid_pr_contact"]),
        mapping(C, "con_id", CONTACT, "con_id", "int", mapping_type=["identity_insert"]),
        mapping(C, "first_name", CONTACT, "first_name", data_length=40),
        mapping(C, "app_note", APP, "note", data_length=40),
        mapping(A, "city", ADDRESS, "city", data_length=40),
    ]  # fmt: skip
    found = load(tmp_path, columns, xml)
    thing, contact, address = one(found, T), one(found, C), one(found, A)
    lxml_once = "A&amp;B &lt;x&gt;"
    assert (thing["note"], contact["app_note"]) == ("A&B <x>", "A&B <x>")
    assert thing["primary_name"] == contact["first_name"] == address["city"] == lxml_once
    # --fix-reference-defects: every value as the XML says it, decoded once
    fixed = load(tmp_path, columns, xml, fix=True)
    assert one(fixed, T)["note"] == one(fixed, C)["app_note"] == lxml_once


def test_contact_extractors_fall_back_as_the_reference_does(tmp_path) -> None:
    # §5.10: no address of the preferred type -> any address, the first with a value; no
    # address at all -> the contact's own attribute; no app_prod_bcard -> the contact's own
    # attribute; §5.12 the same for authu_contact; §5.10 step 4: a history value the last
    # primary contact lacks (blank, "null") comes from the latest earlier one that has it
    pr = ["last_valid_pr_contact"]
    columns = [
        mapping(T, "rent", ADDRESS, "rent", "decimal", mapping_type=pr),
        mapping(T, "credit", f"{CONTACT}/app_prod_bcard", "credit_line", "int", mapping_type=pr),
        mapping(T, "card", f"{CONTACT}/app_prod_bcard", "issue_card_ind", "bit",
                mapping_type=["authu_contact", "char_to_bit"]),
        mapping("app_historical_lookup", "", CONTACT, "spouse",
                mapping_type=["last_valid_pr_contact", "add_history"]),
        mapping("app_historical_lookup", "", CONTACT, "pet",
                mapping_type=["last_valid_pr_contact", "add_history"]),
    ]  # fmt: skip
    only_prev = document("", """
<contact con_id="1" ac_role_tp_c="PR" first_name="Ann" spouse="Pat" pet="Rex">
  <contact_address address_tp_c="PREV" rent=""/><contact_address address_tp_c="PREV" rent="450"/>
</contact>
<contact con_id="2" ac_role_tp_c="PR" first_name="Ann" spouse="null" pet="Tom" credit_line="300">
  <contact_address address_tp_c="PREV" rent="500"/>
</contact>
<contact con_id="3" ac_role_tp_c="AUTHU" first_name="Bo" issue_card_ind="Y"/>""")  # fmt: skip
    found = load(tmp_path, columns, only_prev)
    row = one(found, T)
    assert (row["rent"], row["credit"], row["card"]) == (Decimal("500.00"), 300, True)
    assert by_name(found["app_historical_lookup"]) == {"[spouse]": "Pat", "[pet]": "Tom"}
    no_address = only_prev.replace(b'<contact_address address_tp_c="PREV" rent="500"/>', b"")
    no_address = no_address.replace(b'credit_line="300"', b'credit_line="300" rent="610"')
    assert one(load(tmp_path, columns, no_address), T)["rent"] == Decimal("610.00")


def by_name(rows: list[dict]) -> dict[str, str]:
    return {row["name"]: row["value"] for row in rows}


def test_contacts_anywhere_addresses_from_every_element_of_a_valid_con_id(tmp_path) -> None:
    # §4.3: contacts anywhere in the document (here one beside the application element);
    # §4.4: addresses only from contacts at the rule's path, every element whose con_id is
    # a valid contact's (another role's duplicate included, Q20), the role in any case, the
    # first per (con_id, type) (§9); a con_id no valid contact has gives no address
    xml = b"""<Provenir><Request ID="42"><CustData>
<application app_receive_date="2024-01-02">
  <contact con_id="1" ac_role_tp_c="PR" first_name="Ann">
    <contact_address address_tp_c="CURR" city="Boise"/></contact>
  <contact con_id="1" ac_role_tp_c="authu" last_name="Dup">
    <contact_address address_tp_c="PREV" city="Nampa"/>
    <contact_address address_tp_c="CURR" city="Later"/></contact>
  <contact con_id="7" ac_role_tp_c="PR">
    <contact_address address_tp_c="CURR" city="NoPerson"/></contact>
</application>
<contact con_id="5" ac_role_tp_c="AUTHU" first_name="Beside">
  <contact_address address_tp_c="CURR" city="Elsewhere"/></contact>
</CustData></Request></Provenir>"""
    columns = [m for m in people_mappings() if m["target_table"] in (C, A)]
    found = load(tmp_path, columns, xml)
    assert [(r["con_id"], r["first_name"]) for r in found[C]] == [(1, "Ann"), (5, "Beside")]
    addresses = [(r["con_id"], r["address_type_enum"], r["city"]) for r in found[A]]
    assert addresses == [(1, 320, "Boise"), (1, 321, "Nampa")]


def test_contact_dates_and_codes_are_read_unstripped(tmp_path) -> None:
    # Q18: " 1980-01-01" in a contact does not parse (the NOT NULL column's default); " PR"
    # is no role code; the same values at the application level are stripped first
    xml = document('when=" 1980-01-01"', """
<contact con_id="1" ac_role_tp_c="PR" first_name="Ann" birth_date=" 1980-01-01">
  <contact_address address_tp_c="CURR" city="Boise" kind=" CURR"/></contact>""")  # fmt: skip
    columns = [
        mapping(T, "when", APP, "when", "date"),
        mapping(C, "con_id", CONTACT, "con_id", "int", mapping_type=["identity_insert"]),
        mapping(C, "birth_date", CONTACT, "birth_date", "date", nullable=False,
                default_value="1900-01-01"),
        mapping(A, "kind_enum", ADDRESS, "kind", "smallint", mapping_type=["enum"],
                enum_name="address_type_enum"),
        mapping(A, "city", ADDRESS, "city", data_length=20),
    ]  # fmt: skip
    found = load(tmp_path, columns, xml)
    assert one(found, T)["when"] == date(1980, 1, 1)
    assert one(found, C)["birth_date"] == date(1900, 1, 1)
    assert (one(found, A)["kind_enum"], one(found, A)["city"]) == (None, "Boise")
    fixed = load(tmp_path, columns, xml, fix=True)
    assert one(fixed, C)["birth_date"] == date(1980, 1, 1)
    assert one(fixed, A)["kind_enum"] == 320


def test_valid_contacts_read_attribute_names_as_written(tmp_path) -> None:
    # §4.3: con_id, the role and the personal-data names are looked up exactly: a contact
    # spelling them otherwise is not valid (application columns still match any case)
    xml = document("", """
<contact Con_ID="1" ac_role_tp_c="PR" first_name="Ann"/>
<contact con_id="2" AC_ROLE_TP_C="PR" first_name="Bob"/>
<contact con_id="3" ac_role_tp_c="PR" First_Name="Cy"/>
<contact con_id="4" ac_role_tp_c="PR" first_name="Di"/>""")  # fmt: skip
    columns = [m for m in people_mappings() if m["target_table"] == C]
    assert [r["con_id"] for r in load(tmp_path, columns, xml)[C]] == [4]


def test_a_con_id_with_spaces_loses_its_addresses(tmp_path) -> None:
    # Q31: the contact is valid (its con_id stripped), its addresses are not (the raw
    # con_id is compared); --fix-reference-defects keeps them
    xml = document("", """
<contact con_id=" 1" ac_role_tp_c="PR" first_name="Ann">
  <contact_address address_tp_c="CURR" city="Boise"/></contact>""")  # fmt: skip
    columns = [m for m in people_mappings() if m["target_table"] in (C, A)]
    found = load(tmp_path, columns, xml)
    assert [r["con_id"] for r in found[C]] == [1] and found[A] == []
    fixed = load(tmp_path, columns, xml, fix=True)
    assert [r["city"] for r in fixed[A]] == ["Boise"]


def test_of_two_contacts_with_one_con_id_and_role_only_the_later_gives_addresses(
    tmp_path,
) -> None:
    # §4.4 step 3: the element filter keeps the last contact per (role, con_id); another
    # role's element with the con_id still gives its addresses (Q20)
    xml = document("", """
<contact con_id="1" ac_role_tp_c="PR" first_name="Ann">
  <contact_address address_tp_c="CURR" city="First"/></contact>
<contact con_id="1" ac_role_tp_c="PR" first_name="Ann">
  <contact_address address_tp_c="PREV" city="Second"/></contact>
<contact con_id="1" ac_role_tp_c="AUTHU" first_name="Ann">
  <contact_address address_tp_c="CURR" city="Third"/></contact>""")  # fmt: skip
    columns = [m for m in people_mappings() if m["target_table"] in (C, A)]
    addresses = [(r["address_type_enum"], r["city"]) for r in load(tmp_path, columns, xml)[A]]
    assert addresses == [(321, "Second"), (320, "Third")]


def test_key_value_rows_from_the_card_or_else_the_contact(tmp_path) -> None:
    # §5.10: a card path reads the contact's last app_prod_bcard, or without one the
    # contact's own attribute; key-value rows too
    columns = [mapping("scores", "", f"{CONTACT}/app_prod_bcard", "credit_line", "int",
                       mapping_type=["last_valid_pr_contact", "add_score(LINE)"])]  # fmt: skip
    no_card = document("", '<contact con_id="1" ac_role_tp_c="PR" credit_line="300"/>')
    card = document("", '<contact con_id="1" ac_role_tp_c="PR" credit_line="300">'
                        '<app_prod_bcard credit_line="200"/></contact>')  # fmt: skip
    for xml, expected in ((no_card, 300), (card, 200)):
        scores = load(tmp_path, columns, xml)["scores"]
        assert [(r["score_identifier"], r["score"]) for r in scores] == [("LINE", expected)]


def test_names_resolve_in_the_order_paths_first_occur(tmp_path) -> None:
    # §7.2/Q14: each element path, in the order it first occurs, holds its last element's
    # attributes; a later path carrying the name overwrites an earlier one, even blank
    xml = document("", '<app_product x="1"/><rmts_info x="2" y=""/><app_product x="3" y="5"/>'
                       '<group><item v="1"/></group><item v="2"/>'
                       '<group><item v="3"/></group>')  # fmt: skip
    found = load(tmp_path, [
        mapping(T, "bare", APP, "x", mapping_type=["calculated_field"],
                expression="CASE WHEN x IS NOT EMPTY THEN x END"),
        mapping(T, "blank", APP, "y", mapping_type=["calculated_field"],
                expression="CASE WHEN y IS EMPTY THEN 'empty' ELSE y END"),
        mapping(T, "qualified", APP, "v", mapping_type=["calculated_field"],
                expression="CASE WHEN item.v IS NOT EMPTY THEN item.v END"),
    ], xml)  # fmt: skip
    row = one(found, T)
    # x: app_product's path comes first (its last element has 3), rmts_info's later: 2
    assert (row["bare"], row["blank"], row["qualified"]) == ("2", "empty", "2")


def test_reference_values_with_quotes_stay_literals(tmp_path) -> None:
    # a role code holding a quote is written into conditions as a quoted literal, not
    # pasted: the contract imports, and that contact is valid
    rules = copy.deepcopy(BASE["element_filtering"])
    rules["filter_rules"][0]["required_attributes"]["ac_role_tp_c"] = ["PR", "AU'X"]
    xml = document("", """
<contact con_id="1" ac_role_tp_c="PR" first_name="Ann"/>
<contact con_id="2" ac_role_tp_c="AU'X" first_name="Bob">
  <contact_address address_tp_c="CURR" city="Boise"/></contact>""")  # fmt: skip
    columns = [m for m in people_mappings() if m["target_table"] in (C, A)]
    found = load(tmp_path, columns, xml, element_filtering=rules)
    assert [r["con_id"] for r in found[C]] == [1, 2]
    assert [(r["con_id"], r["city"]) for r in found[A]] == [(2, "Boise")]

"""Synthetic credit-application documents shaped like the shared corpus: the mapped
sections with messy values, plus bulky unmapped sections so sizes run from a few KB to
about 1 MB. Deterministic: document N of seed S is always the same bytes."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

BAD_KINDS = ("malformed", "wrong_schema", "missing_id", "doctype", "bad_value")
_FIRST = ["ANA", "BEN", "CARLA", "DMITRI", "ELENA", "FERNANDO", "GRACE", "HUGO", "IRIS", "JOSE"]
_LAST = ["GROSS", "NGUYEN", "OKAFOR", "SMITH", "MÜLLER", "O'BRIEN", "GARCÍA", "KOWALSKI"]
_CITIES = [("IRVING", "TX"), ("PROVO", "UT"), ("SALEM", "OR"), ("AKRON", "OH"), ("TAMPA", "FL")]
_POPULATIONS = ["BL", "CV", "EV", "JB", "L2", "SO", "CM", "DN", "HD", "HU", "LB", "SB", "ZZ"]
_DECISIONS = ["APPRV", "DECLN", "NONE", "PDEP", "WITHD", "apprv", "??"]


@dataclass(frozen=True)
class GeneratedDocument:
    document_id: int
    xml: bytes
    bad_kind: str | None


def _date(rng: random.Random) -> str:
    year, month, day = rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28)
    hour, minute, second = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    style = rng.randrange(4)
    if style == 0:
        return f"{year}-{month}-{day} {hour}:{minute}:{second}.{rng.randint(0, 999)}"
    if style == 1:
        return f"{month:02d}/{day:02d}/{year}"
    if style == 2:
        return f"{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def _phone(rng: random.Random) -> str:
    digits = f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(1000, 9999)}"
    styles = [
        digits,
        f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
        "",
        f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
    ]
    return rng.choice(styles)


def _attrs(values: dict[str, object]) -> str:
    return " ".join(f"{name}={quoteattr(str(value))}" for name, value in values.items())


def _contact(rng: random.Random, con_id: int, role: str) -> str:
    city, state = rng.choice(_CITIES)
    contact = {
        "con_id": con_id,
        "ac_role_tp_c": role,
        "first_name": rng.choice(_FIRST),
        "last_name": rng.choice(_LAST),
        "initials": rng.choice(["", "Q", "R"]),
        "ssn": rng.choice([f"{rng.randint(100000000, 899999999)}", "666-37-4706", ""]),
        "birth_date": rng.choice(
            [
                f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/19{rng.randint(40, 99)}",
                f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            ]
        ),
        # addresses fit the example contract's string(100); one in fifty is over-long
        # junk, which the contract truncates (and the run summary says so)
        "email": rng.choice(["", "someone@example.com", "first.last.1987@mail.example.org"])
        if rng.random() >= 0.02
        else "x" * 120 + "@example.com",
        "banking_aba": f"{rng.randint(100000000, 999999999)}",
        "banking_account_type": rng.choice("CSX"),
    }
    card = {
        "allocated_credit_line": rng.choice([300, 600, 1100, ""]),
        "issue_card_ind": rng.choice("YN"),
        "account_number": f"45291210{rng.randint(10000000, 99999999)}",
        "max_line": 2000,
    }
    address = {
        "address_tp_c": "CURR",
        "city": city,
        "state": state,
        "zip": f"{rng.randint(10000, 99999)}",
        "street_number": rng.randint(1, 9999),
        "street_name": "ADAMS CT",
        "home_phone": _phone(rng),
        "cell_phone": _phone(rng),
        "ownership_tp_c": rng.choice("ORX"),
        "months_at_residence": rng.randint(0, 11),
        "years_at_residence": rng.randint(0, 30),
        "residence_monthly_pymnt": rng.choice(["500", "1250.50", ""]),
    }
    employment = {
        "employment_tp_c": "CURR",
        "b_name": "ACME",
        "b_salary": rng.choice(["75000", "5200", "18.5"]),
        "b_salary_basis_tp_c": rng.choice(["ANNUM", "MONTH", "HOURLY", ""]),
        "b_months_at_job": rng.randint(0, 11),
        "b_years_at_job": rng.randint(0, 20),
        "b_phone_no": _phone(rng),
        "b_self_employed_ind": rng.choice("YN"),
    }
    previous = (
        f"<contact_address {_attrs({**address, 'address_tp_c': 'PREV'})}/>"
        if rng.random() < 0.3
        else ""
    )
    return (
        f"<contact {_attrs(contact)}><app_prod_bcard {_attrs(card)}/>"
        f"<contact_address {_attrs(address)}/>{previous}"
        f"<contact_employment {_attrs(employment)}/></contact>"
    )


class DocumentGenerator:
    """Makes documents; `median_kb` sets the size distribution of the bulky sections."""

    def __init__(self, seed: int, median_kb: float = 40.0, bad_ratio: float = 0.0) -> None:
        self.seed, self.median_kb, self.bad_ratio = seed, median_kb, bad_ratio
        filler = random.Random(seed)
        self.filler = [
            f'<Journal seq="{i}" user="USER{filler.randint(1, 99)}" text="'
            + "".join(filler.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789", k=160))
            + '"/>'
            for i in range(256)
        ]

    def document(self, document_id: int) -> GeneratedDocument:
        rng = random.Random(f"{self.seed}:{document_id}")
        bad = rng.choice(BAD_KINDS) if rng.random() < self.bad_ratio else None
        return GeneratedDocument(document_id, self._render(rng, document_id, bad), bad)

    def documents(self, count: int, first_id: int = 1) -> Iterator[GeneratedDocument]:
        for document_id in range(first_id, first_id + count):
            yield self.document(document_id)

    def _render(self, rng: random.Random, document_id: int, bad: str | None) -> bytes:
        app_id = "" if bad == "missing_id" else str(document_id)
        element = "IL_application" if bad == "wrong_schema" else "application"
        application = {
            "app_receive_date": _date(rng),
            "app_source_ind": rng.choice("IMTUQ"),
            "app_type_code": rng.choice(["SECURE", "PRODB", "CBC", "NEWCODE"]),
            "population_assignment": rng.choice(_POPULATIONS),
            "signature_ind": rng.choice("YNU"),
            "esign_consent_flag": rng.choice(["true", "false", "Y", ""]),
            "paperless_flag": "yes",
            "assignedTo": rng.choice(["", "analyst.jones@lender.example"]),
            "Debit_Funding_Source": "ACH",
        }
        product = {
            "decision_tp_c": rng.choice(_DECISIONS),
            "decision_date": _date(rng),
            "regb_start_date": rng.choice(["", _date(rng)]),
            "decision_model": "TU FICO 09",
            "adverse_actn1_type_cd": rng.choice(["", "V4_01", "A12"]),
            "risk_model_reason1_tp_c": rng.choice(["", "R1"]),
            "EX_DIE_score": rng.randint(10, 99),
            "TU_FICO_09_Score": rng.randint(500, 850),
            "DIE_Plus_Score": f"{rng.uniform(0, 999):.2f}",
            "prescreen_fico_score": rng.randint(500, 850),
            "GIACT_Response": rng.choice(["", "PASS", "FAIL"]),
            "risk_model_score": rng.randint(100, 400),
        }
        rmts = {
            "primary_ssn": "666-12-3456",
            "pri_zip_code": "750610000",
            "apr": "29.99",
            "late_payment_fee": "40",
            "CB_prescreen_birth_date": "12/06/1972",
        }
        con_id = document_id * 10
        if bad == "bad_value":
            con_id = "12-AB"  # type: ignore[assignment]
        contacts = _contact(rng, con_id, "PR")  # type: ignore[arg-type]
        if rng.random() < 0.2:
            contacts += _contact(rng, document_id * 10 + 1, "AUTHU")
        indicators = "".join(
            f'<Indicator ID="IND_{i}" value="{rng.choice("YN")}"/>'
            for i in range(rng.randint(0, 6))
        )
        process = rng.choice(["20000", "99800"])
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            + ('<!DOCTYPE Provenir [<!ENTITY x "boom">]>\n' if bad == "doctype" else "")
            + f'<Provenir ID="{app_id}"><Request ID="{app_id}" Process="{process}" '
            f'Status="{rng.choice("ABCP")}" LastUpdatedBy="LOADER"><CustData>'
            f"<{element} {_attrs(application)}><app_product {_attrs(product)}/>"
            f"<rmts_info {_attrs(rmts)}/>{contacts}<Indicators>{indicators}</Indicators>"
        )
        tail = f"</{element}></CustData><Reports>{self._bulk(rng)}</Reports></Request></Provenir>"
        text = head + tail
        if bad == "malformed":
            text = text[: len(text) // 2]
        return text.encode("utf-8")

    def _bulk(self, rng: random.Random) -> str:
        size_kb = min(1000.0, max(4.0, rng.lognormvariate(math.log(self.median_kb), 1.0)))
        lines = max(0, int(size_kb * 1024 / 200) - 8)
        return "".join(rng.choices(self.filler, k=lines))

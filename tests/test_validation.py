"""CONTRACT.md input validation: every rule sends the message to `eob.dead-letter` with one
specific line saying where and what, and the events around it are processed as usual.

Each rejection test runs the same frame (`reject`): reference data and the article's primary EOB
(COB_RULES.md example 1) are accepted, the bad message is dead-lettered, and the article's
secondary EOB that follows still produces the expected billing-ready event.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic_core import PydanticCustomError

from cobstream.engine import Engine
from models.cob.processor import Published
from models.contract.outcomes import DeadLetter, ExpectedSecondaryPayment, PatientBillingReady, PaymentDiscrepancy
from models.contract.types import parse_money
from models.remittance.decode import MAX_DEAD_LETTER_RAW, MAX_MESSAGE_BYTES

# ---------------------------------------------------------------------------------------------
# Builders (kept in this file on purpose: other test modules are edited concurrently)

CLAIM = "CLM-1001"
PRIMARY_AT = datetime(2026, 3, 10, 15, tzinfo=UTC)
SECONDARY_AT = datetime(2026, 3, 24, 15, tzinfo=UTC)
SENTINEL = "models.literal"

Path = tuple[str | int, ...]


def adjustment(group: str, reason: str, amount: str) -> dict[str, Any]:
    return {"group": group, "reason": reason, "amount": amount}


def service_line(line_id: str = "1", **overrides: Any) -> dict[str, Any]:
    """The article's primary line: C 150, A1 100, P1 80, CO-45 50, PR-2 20."""
    value = {
        "line_id": line_id,
        "procedure_code": "99214",
        "modifiers": [],
        "service_date": "2026-03-02",
        "charge": "150.00",
        "paid": "80.00",
        "allowed": "100.00",
        "adjustments": [adjustment("CO", "45", "50.00"), adjustment("PR", "2", "20.00")],
        "remarks": [],
    }
    value.update(overrides)
    return value


def event(**overrides: Any) -> dict[str, Any]:
    """The article's primary EOB (ex01_lesser_in_network.jsonl); override any field."""
    value = {
        "event_id": "EOB-P-CLM-1001",
        "claim_id": CLAIM,
        "payer_id": "BCBS-TX",
        "payer_name": None,
        "payer_claim_number": "PCN-EOB-P-CLM-1001",
        "status": "processed",
        "adjudicated_at": "2026-03-10T15:00:00Z",
        "secondary_payer_id": "AETNA",
        "lines": [service_line()],
    }
    value.update(overrides)
    return value


def secondary_event(**overrides: Any) -> dict[str, Any]:
    """The article's secondary EOB: AETNA pays 10.00 on an allowed 90.00."""
    line = service_line(
        paid="10.00",
        allowed="90.00",
        adjustments=[adjustment("CO", "45", "60.00"), adjustment("OA", "23", "80.00")],
    )
    value = event(
        event_id="EOB-S-CLM-1001",
        payer_id="AETNA",
        payer_claim_number="PCN-EOB-S-CLM-1001",
        adjudicated_at="2026-03-24T15:00:00Z",
        secondary_payer_id=None,
        lines=[line],
    )
    value.update(overrides)
    return value


def changed(value: dict[str, Any], path: Path, new: Any) -> dict[str, Any]:
    """A deep copy of `value` with the item at `path` replaced."""
    result = copy.deepcopy(value)
    *parents, last = path
    target: Any = result
    for part in parents:
        target = target[part]
    target[last] = new
    return result


def without(value: dict[str, Any], path: Path) -> dict[str, Any]:
    result = copy.deepcopy(value)
    *parents, last = path
    target: Any = result
    for part in parents:
        target = target[part]
    del target[last]
    return result


def text(value: Any) -> str:
    return json.dumps(value)


def with_literal(value: dict[str, Any], path: Path, literal: str) -> str:
    """The JSON text of `value` with the item at `path` written as this literal JSON text
    (a number exactly as typed, NaN, true...), which `json.dumps` could not produce."""
    return text(changed(value, path, SENTINEL)).replace(f'"{SENTINEL}"', literal)


def where(path: Path) -> str:
    """A path as the dead letter names it: ``lines[0].adjustments[1].amount``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def feed_reference(engine: Engine) -> list[Published]:
    profile = {"payer_id": "AETNA", "cob_method": "lesser_of_allowables", "in_network": True}
    fee = {"payer_id": "AETNA", "procedure_code": "99214", "modifiers": [], "allowed": "90.00"}
    return [
        *engine.receive("reference.payers", "AETNA", text(profile), offset=1),
        *engine.receive("reference.fee-schedule", "AETNA|99214|", text(fee), offset=2),
    ]


def primed_engine() -> Engine:
    """Reference data and the article's primary accepted: the claim waits for its secondary."""
    engine = Engine()
    assert feed_reference(engine) == []
    out = engine.receive("eob.primary", CLAIM, text(event()), offset=3)
    assert [e.topic for e in out] == ["secondary.expected"]
    return engine


def dead_letters(out: list[Published]) -> list[DeadLetter]:
    return [e.value for e in out if e.topic == "eob.dead-letter"]  # type: ignore[misc]


def only_dead_letter(out: list[Published]) -> DeadLetter:
    assert [e.topic for e in out] == ["eob.dead-letter"], out
    letter = out[0].value
    assert isinstance(letter, DeadLetter)
    assert out[0].key == letter.key
    return letter


def ready_events(out: list[Published]) -> list[PatientBillingReady]:
    return [e.value for e in out if isinstance(e.value, PatientBillingReady)]


def assert_article_ready(out: list[Published]) -> PatientBillingReady:
    """COB_RULES.md example 1 with its actual secondary payment: S 10, patient 0, write-off 60."""
    assert dead_letters(out) == []
    [ready] = ready_events(out)
    assert ready.status == "ready"
    assert (ready.secondary_paid, ready.patient_responsibility, ready.write_off) == (
        Decimal("10.00"),
        Decimal("0.00"),
        Decimal("60.00"),
    )
    return ready


def reject(
    topic: str,
    raw: str | bytes | None,
    *needles: str,
    key: str | None = "K-BAD",
    claim_id: str | None = CLAIM,
) -> DeadLetter:
    """Send one bad message between valid ones; check its dead letter and that processing goes on."""
    engine = primed_engine()
    letter = only_dead_letter(engine.receive(topic, key, raw, offset=4))
    assert letter.source_topic == topic
    assert (letter.partition, letter.offset, letter.key) == (None, 4, key)
    assert letter.claim_id == claim_id
    assert letter.received_at == PRIMARY_AT  # the clock: the accepted primary's adjudicated_at
    assert letter.error
    assert "\n" not in letter.error, letter.error
    assert "\r" not in letter.error, letter.error
    for needle in needles:
        assert needle in letter.error, f"{needle!r} not in {letter.error!r}"
    if isinstance(raw, str) and raw.isascii():
        # The original text, cut to MAX_DEAD_LETTER_RAW bytes so that the dead letter fits Kafka.
        assert (letter.raw, letter.raw_encoding) == (raw[:MAX_DEAD_LETTER_RAW], "utf-8")
        assert (letter.raw_truncated, letter.raw_size) == (len(raw) > MAX_DEAD_LETTER_RAW, len(raw))
    json.loads(letter.model_dump_json())  # publishable as UTF-8 JSON whatever came in
    # The events around it are processed as usual.
    assert_article_ready(engine.receive("eob.secondary", CLAIM, text(secondary_event()), offset=5))
    return letter


def accept_without_secondary(raw: str | bytes) -> PatientBillingReady:
    """Send a primary EOB of a claim without secondary coverage; return its ready event."""
    out = Engine().receive("eob.primary", CLAIM, raw, offset=1)
    assert dead_letters(out) == [], dead_letters(out)
    [ready] = ready_events(out)
    return ready


def no_secondary(**overrides: Any) -> dict[str, Any]:
    return event(secondary_payer_id=None, **overrides)


# ---------------------------------------------------------------------------------------------
# The frame itself


def test_valid_events_around_a_dead_letter_are_processed() -> None:
    engine = primed_engine()
    only_dead_letter(engine.receive("eob.primary", "junk", "{not json", offset=4))
    assert_article_ready(engine.receive("eob.secondary", CLAIM, text(secondary_event()), offset=5))


def test_received_at_is_null_before_any_accepted_eob_and_the_clock_after() -> None:
    engine = Engine()
    feed_reference(engine)  # reference data does not move the clock
    letter = only_dead_letter(engine.receive("eob.primary", None, "nope", offset=3))
    assert letter.received_at is None
    assert json.loads(letter.model_dump_json())["received_at"] is None

    # A rejected EOB with a later adjudicated_at does not move the clock either.
    late = event(event_id="E-LATE", adjudicated_at="2027-01-01T00:00:00Z", status="paid")
    assert only_dead_letter(engine.receive("eob.primary", CLAIM, text(late), offset=4)).received_at is None

    engine.receive("eob.primary", CLAIM, text(event()), offset=5)
    assert engine.clock == PRIMARY_AT
    letter = only_dead_letter(engine.receive("eob.primary", None, "nope", offset=6))
    assert letter.received_at == PRIMARY_AT
    assert json.loads(letter.model_dump_json())["received_at"] == "2026-03-10T15:00:00Z"

    engine.receive("eob.secondary", CLAIM, text(secondary_event()), offset=7)
    assert only_dead_letter(engine.receive("bogus.topic", None, "{}", offset=8)).received_at == SECONDARY_AT


# ---------------------------------------------------------------------------------------------
# Required fields, ids, enums, times


@pytest.mark.parametrize(
    "path",
    [
        ("event_id",),
        ("claim_id",),
        ("payer_id",),
        ("status",),
        ("adjudicated_at",),
        ("lines",),
        ("lines", 0, "line_id"),
        ("lines", 0, "procedure_code"),
        ("lines", 0, "service_date"),
        ("lines", 0, "charge"),
        ("lines", 0, "paid"),
        ("lines", 0, "adjustments", 1, "group"),
        ("lines", 0, "adjustments", 1, "reason"),
        ("lines", 0, "adjustments", 1, "amount"),
    ],
    ids=where,
)
def test_missing_required_field(path: Path) -> None:
    claim_id = None if path == ("claim_id",) else CLAIM
    reject(
        "eob.primary", text(without(event(event_id="E-BAD"), path)), f"{where(path)}: is required", claim_id=claim_id
    )


@pytest.mark.parametrize(
    "path",
    [("event_id",), ("claim_id",), ("payer_id",), ("lines", 0, "line_id"), ("lines", 0, "procedure_code")],
    ids=where,
)
def test_empty_string_id_is_rejected(path: Path) -> None:
    claim_id = None if path == ("claim_id",) else CLAIM
    letter = reject(
        "eob.primary", text(changed(event(event_id="E-BAD"), path, "")), f"{where(path)}: ", claim_id=claim_id
    )
    assert "empty" in letter.error


def test_empty_string_id_error_does_not_call_it_a_list() -> None:
    letter = reject("eob.primary", text(event(event_id="")), "event_id: must not be empty")
    assert "list" not in letter.error


@pytest.mark.parametrize("status", ["paid", "PROCESSED", "", "processed ", 1, None, True])
def test_status_not_in_enum(status: Any) -> None:
    reject(
        "eob.primary",
        text(event(event_id="E-BAD", status=status)),
        "status: must be 'processed', 'denied' or 'reversed'",
    )


def test_status_error_stays_on_one_line_with_a_newline_in_the_input() -> None:
    reject("eob.primary", text(event(event_id="E-BAD", status="proc\nessed")), "status:")


@pytest.mark.parametrize(
    "value",
    ["2026-03-10T15:00:00", "2026-03-10 15:00:00", "2026-03-10", "yesterday", "", 1773154800, None],
)
def test_adjudicated_at_needs_a_zone(value: Any) -> None:
    reject(
        "eob.primary",
        text(event(event_id="E-BAD", adjudicated_at=value)),
        "adjudicated_at: must be an ISO 8601 datetime with a zone",
    )


@pytest.mark.parametrize("value", ["2026-03-10T15:00:00+02:00", "2026-03-10T10:00:00-05:00", "2026-03-10T15:00Z"])
def test_adjudicated_at_with_a_zone_is_accepted(value: str) -> None:
    accept_without_secondary(text(no_secondary(adjudicated_at=value)))


@pytest.mark.parametrize("value", ["2026-02-30", "03/02/2026", "2026-3-2", "2026-03-02T00:00:00Z", "", 20260302, None])
def test_bad_service_date(value: Any) -> None:
    path = ("lines", 0, "service_date")
    reject(
        "eob.primary", text(changed(event(event_id="E-BAD"), path, value)), "lines[0].service_date: must be an ISO date"
    )


# ---------------------------------------------------------------------------------------------
# Money


@pytest.mark.parametrize("literal", ['"80.125"', "80.125", '"80.001"', "80.00000001"])
def test_money_with_three_decimals_of_value_is_rejected(literal: str) -> None:
    raw = with_literal(event(event_id="E-BAD"), ("lines", 0, "paid"), literal)
    reject("eob.primary", raw, "lines[0].paid: has more than two decimals")


@pytest.mark.parametrize("literal", ['"80.100"', "80.100", '"80.10000000"', "80.1"])
def test_money_with_trailing_zero_decimals_is_accepted_and_normalized(literal: str) -> None:
    value = no_secondary(
        lines=[service_line(paid="0", adjustments=[adjustment("CO", "45", "49.90"), adjustment("PR", "2", "20.00")])]
    )
    ready = accept_without_secondary(with_literal(value, ("lines", 0, "paid"), literal))
    paid = ready.lines[0].primary_paid
    assert paid == Decimal("80.10")
    assert paid.as_tuple().exponent == -2
    assert json.loads(ready.model_dump_json())["lines"][0]["primary_paid"] == "80.10"


def test_money_as_json_number_is_read_exactly() -> None:
    # Through a binary float, 150.10 would be 150.09999999999999431... and be refused.
    raw = text(no_secondary())
    raw = raw.replace('"charge": "150.00"', '"charge": 150.10').replace('"paid": "80.00"', '"paid": 80.10')
    ready = accept_without_secondary(raw)
    assert ready.total_charge == Decimal("150.10")
    assert str(ready.total_charge) == "150.10"
    assert ready.lines[0].primary_paid == Decimal("80.10")
    assert ready.write_off == Decimal("50.00")


def test_largest_money_as_json_number_is_read_exactly() -> None:
    # Decimal(999999999.99) is 999999999.990000009536...: only exact reading keeps two decimals.
    line = service_line(
        charge="0",
        paid="0",
        allowed=None,
        adjustments=[adjustment("CO", "45", "999999979.99"), adjustment("PR", "1", "20.00")],
    )
    raw = text(no_secondary(lines=[line]))
    raw = raw.replace('"charge": "0"', '"charge": 999999999.99').replace('"paid": "0"', '"paid": 0')
    ready = accept_without_secondary(raw)
    assert ready.total_charge == Decimal("999999999.99")
    assert ready.patient_responsibility == Decimal("20.00")


def test_integer_money_is_accepted_as_dollars() -> None:
    raw = with_literal(no_secondary(), ("lines", 0, "charge"), "150")
    assert accept_without_secondary(raw).total_charge == Decimal("150.00")


@pytest.mark.parametrize("literal", ["true", "false"])
@pytest.mark.parametrize(
    "path",
    [("lines", 0, "charge"), ("lines", 0, "paid"), ("lines", 0, "allowed"), ("lines", 0, "adjustments", 0, "amount")],
    ids=where,
)
def test_boolean_is_not_money(path: Path, literal: str) -> None:
    reject("eob.primary", with_literal(event(event_id="E-BAD"), path, literal), f"{where(path)}: ", "not a boolean")


@pytest.mark.parametrize("literal", ["1e2", "1E2", "8.0e1", "80e0", "1e400", "-1e400", "1e-400"])
def test_exponent_numbers_are_rejected(literal: str) -> None:
    raw = with_literal(event(event_id="E-BAD"), ("lines", 0, "paid"), literal)
    reject("eob.primary", raw, "lines[0].paid: ", "no exponent")


@pytest.mark.parametrize("value", ["1e2", "8.0E1"])
def test_exponent_in_a_money_string_is_rejected(value: str) -> None:
    raw = text(changed(event(event_id="E-BAD"), ("lines", 0, "paid"), value))
    reject("eob.primary", raw, "lines[0].paid: must be money written as digits")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("path", [("lines", 0, "paid"), ("lines", 0, "allowed"), ("lines", 0, "charge")], ids=where)
def test_non_finite_literals_are_rejected(path: Path, literal: str) -> None:
    reject("eob.primary", with_literal(event(event_id="E-BAD"), path, literal), f"{where(path)}: not finite")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "sNaN"])
def test_non_finite_strings_are_rejected(value: str) -> None:
    reject("eob.primary", text(changed(event(event_id="E-BAD"), ("lines", 0, "paid"), value)), "lines[0].paid: ")


@pytest.mark.parametrize("value", [" 80.00", "80.00 ", "\u0668\u0660.\u0660\u0660"])
def test_money_string_outside_the_contract_grammar_is_rejected(value: str) -> None:
    raw = text(changed(event(event_id="E-BAD"), ("lines", 0, "paid"), value))
    reject("eob.primary", raw, "lines[0].paid: ")


def test_plus_sign_money_string_is_rejected() -> None:
    raw = text(changed(event(event_id="E-BAD"), ("lines", 0, "paid"), "+80.00"))
    reject("eob.primary", raw, "lines[0].paid: must be money written as digits")


# ---------------------------------------------------------------------------------------------
# Lines: balance, ids, signs, count


def test_unbalanced_line_is_rejected() -> None:
    value = changed(event(event_id="E-BAD"), ("lines", 0, "paid"), "81.00")
    letter = reject("eob.primary", text(value), "lines[0]: does not balance")
    assert "charge 150.00 - adjustments 70.00 = 80.00, but paid is 81.00" in letter.error


def test_unbalanced_second_line_is_named() -> None:
    value = event(event_id="E-BAD", lines=[service_line("1"), service_line("2", charge="150.01")])
    reject("eob.primary", text(value), "lines[1]: does not balance")


def test_line_that_balances_is_accepted() -> None:
    line = service_line(
        charge="123.45",
        paid="0.45",
        allowed=None,
        adjustments=[adjustment("CO", "45", "100.00"), adjustment("PR", "1", "20.00"), adjustment("PR", "2", "3.00")],
    )
    ready = accept_without_secondary(text(no_secondary(lines=[line])))
    assert (ready.patient_responsibility, ready.write_off) == (Decimal("23.00"), Decimal("100.00"))


def test_line_without_adjustments_that_balances_is_accepted() -> None:
    line = service_line(charge="80.00", paid="80.00", adjustments=[])
    line.pop("modifiers")
    line.pop("remarks")
    ready = accept_without_secondary(text(no_secondary(lines=[line])))
    assert (ready.patient_responsibility, ready.write_off) == (Decimal("0.00"), Decimal("0.00"))


def test_duplicate_line_ids_are_rejected() -> None:
    value = event(event_id="E-BAD", lines=[service_line("1"), service_line("2"), service_line("1")])
    reject("eob.primary", text(value), "lines[2].line_id: ", "appears twice")


def test_duplicate_line_id_error_names_the_id() -> None:
    value = event(event_id="E-BAD", lines=[service_line("L-7"), service_line("L-7")])
    letter = reject("eob.primary", text(value), "lines[1].line_id: ")
    assert "{" not in letter.error
    assert "L-7" in letter.error


def negated(line: dict[str, Any]) -> dict[str, Any]:
    def neg(amount: str | None) -> str | None:
        return None if amount is None else f"{-Decimal(amount):.2f}"

    return {
        **line,
        "charge": neg(line["charge"]),
        "paid": neg(line["paid"]),
        "allowed": neg(line["allowed"]),
        "adjustments": [{**a, "amount": neg(a["amount"])} for a in line["adjustments"]],
    }


@pytest.mark.parametrize("status", ["processed", "denied"])
@pytest.mark.parametrize(
    ("field", "line"),
    [
        ("charge", negated(service_line())),
        ("allowed", service_line(allowed="-100.00")),
        ("paid", service_line(paid="-20.00", adjustments=[adjustment("CO", "45", "170.00")])),
    ],
    ids=["all_negative", "allowed", "paid"],
)
def test_negative_line_amounts_are_rejected_unless_reversed(status: str, field: str, line: dict[str, Any]) -> None:
    reject(
        "eob.primary",
        text(event(event_id="E-BAD", status=status, lines=[line])),
        f"lines[0].{field}: must not be negative",
    )


def test_negative_amounts_are_accepted_on_a_reversal() -> None:
    engine = Engine()
    out = engine.receive("eob.primary", CLAIM, text(no_secondary()), offset=1)
    [ready] = ready_events(out)
    reversal = no_secondary(
        event_id="EOB-P-REV", status="reversed", adjudicated_at="2026-03-12T15:00:00Z", lines=[negated(service_line())]
    )
    out = engine.receive("eob.primary", CLAIM, text(reversal), offset=2)
    assert dead_letters(out) == []
    assert [(e.topic, getattr(e.value, "status", None) or getattr(e.value, "kind", None)) for e in out] == [
        ("billing.ready", "voided"),
        ("billing.discrepancy", "primary_reversed"),
    ]
    assert out[0].value.voids_event_id == ready.event_id  # type: ignore[union-attr]


@pytest.mark.parametrize("lines", [[], None, {}, "1"])
def test_empty_or_malformed_lines_list(lines: Any) -> None:
    letter = reject("eob.primary", text(event(event_id="E-BAD", lines=lines)), "lines: ")
    if lines == []:
        assert "lines: must be a non-empty list" in letter.error


# ---------------------------------------------------------------------------------------------
# secondary_payer_id by topic; unknown fields


def test_an_absent_secondary_payer_id_on_eob_primary_leaves_the_coverage_unknown() -> None:
    """CONTRACT.md: absent is the third state (the sender does not know): accepted, and the claim
    is held with `coverage_unknown` instead of billing the patient."""
    out = Engine().receive("eob.primary", CLAIM, text(without(event(), ("secondary_payer_id",))), offset=1)
    assert dead_letters(out) == []
    assert ready_events(out) == []
    [held] = [p.value for p in out if isinstance(p.value, PaymentDiscrepancy)]
    assert (held.kind, held.blocking) == ("coverage_unknown", True)


def test_a_states_secondary_field_sent_by_upstream_is_not_taken_from_it() -> None:
    """`states_secondary` is the model's record of whether the key was present, never input."""
    out = Engine().receive("eob.primary", CLAIM, text(no_secondary(states_secondary=False)), offset=1)
    [ready] = ready_events(out)
    assert ready.secondary_payer_id is None


def test_secondary_payer_id_null_on_eob_primary_means_no_secondary() -> None:
    ready = accept_without_secondary(text(no_secondary()))
    assert (ready.secondary_payer_id, ready.patient_responsibility) == (None, Decimal("20.00"))


@pytest.mark.parametrize("value", ["", 5, True, ["AETNA"], {"id": "AETNA"}, "\u0001"])
def test_secondary_payer_id_of_the_wrong_shape_on_eob_primary_is_rejected(value: Any) -> None:
    reject("eob.primary", text(event(event_id="E-BAD", secondary_payer_id=value)), "secondary_payer_id: ")


@pytest.mark.parametrize("value", ["<absent>", None, 5, "", "NOT-A-PAYER", ["x"], {"a": 1}, True, "\u0001"])
def test_secondary_payer_id_is_ignored_on_eob_secondary(value: Any) -> None:
    engine = primed_engine()
    secondary = secondary_event()
    if value == "<absent>":
        del secondary["secondary_payer_id"]
    else:
        secondary["secondary_payer_id"] = value
    assert_article_ready(engine.receive("eob.secondary", CLAIM, text(secondary), offset=4))


def test_unknown_extra_fields_are_accepted_and_ignored() -> None:
    engine = primed_engine()
    secondary = secondary_event(schema_version=7, trace={"span": [1, 2.5, None]}, x_note="from upstream")
    secondary["lines"][0]["x_rendering_provider"] = {"npi": "1234567890"}
    secondary["lines"][0]["adjustments"][0]["quantity"] = 1.5
    assert_article_ready(engine.receive("eob.secondary", CLAIM, text(secondary), offset=4))


# ---------------------------------------------------------------------------------------------
# Bytes and JSON shape


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe{}",
        json.dumps(event(event_id="E-BAD", claim_id="CLM-\u00e9"), ensure_ascii=False).encode("latin-1"),
        text(event(event_id="E-BAD")).encode("utf-16"),
        b'{"event_id": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes is not UTF-8
    ],
    ids=["bom_ff_fe", "latin_1", "utf_16", "encoded_surrogate"],
)
def test_non_utf8_bytes_are_kept_as_base64(raw: bytes) -> None:
    letter = reject("eob.primary", raw, "value is not UTF-8 text", claim_id=None)
    assert letter.raw_encoding == "base64"
    assert base64.b64decode(letter.raw, validate=True) == raw


def test_utf8_bytes_are_accepted() -> None:
    engine = primed_engine()
    raw = text(secondary_event(payer_name="Aetna Sant\u00e9")).encode("utf-8")
    assert_article_ready(engine.receive("eob.secondary", CLAIM, raw, offset=4))


def test_dead_letter_keeps_valid_utf8_bytes_as_text() -> None:
    raw = '{"claim_id": "CLM-\u00e9", "oops": '.encode()
    letter = reject("eob.primary", raw, "value is not valid JSON", claim_id=None)
    assert (letter.raw, letter.raw_encoding) == ('{"claim_id": "CLM-\u00e9", "oops": ', "utf-8")


@pytest.mark.parametrize("raw", ["{not json", '{"event_id": ', "", "   ", "{'single': 'quotes'}", '{"a": 1,}', "{}{}"])
def test_invalid_json_is_rejected(raw: str) -> None:
    reject("eob.primary", raw, "value is not valid JSON", claim_id=None)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("[]", "a list"),
        ("[{}]", "a list"),
        ('"text"', "a string"),
        ("42", "a number"),
        ("4.5", "a number"),
        ("null", "null"),
    ],
)
@pytest.mark.parametrize("topic", ["eob.primary", "eob.secondary"])
def test_json_that_is_not_an_object(topic: str, raw: str, kind: str) -> None:
    reject(topic, raw, f"value must be a JSON object (an EobEvent), not {kind}", claim_id=None)


def test_json_boolean_value_is_called_a_boolean() -> None:
    reject("eob.primary", "true", "not a boolean", claim_id=None)


@pytest.mark.parametrize("topic", ["eob.primary", "eob.secondary"])
def test_null_value_on_an_eob_topic(topic: str) -> None:
    letter = reject(topic, None, "value is null; only the reference topics accept null", key=CLAIM, claim_id=None)
    assert (letter.raw, letter.raw_encoding) == ("", "utf-8")


@pytest.mark.parametrize("topic", ["eob.tertiary", "EOB.PRIMARY", "", "prod.eob.primary"])
def test_unknown_topic(topic: str) -> None:
    letter = reject(topic, text(secondary_event(event_id="E-BAD")), "unknown input topic", claim_id=None)
    assert repr(topic) in letter.error
    assert "eob.primary" in letter.error  # says which topics exist


@pytest.mark.parametrize("as_bytes", [True, False], ids=["bytes", "text"])
def test_oversized_message(as_bytes: bool) -> None:
    value = event(event_id="E-BAD", padding="x" * MAX_MESSAGE_BYTES)
    raw: str | bytes = text(value).encode() if as_bytes else text(value)
    letter = reject("eob.primary", raw, f"over the {MAX_MESSAGE_BYTES}-byte limit", claim_id=None)
    assert letter.raw_encoding == "utf-8"
    original = raw.decode() if isinstance(raw, bytes) else raw
    # The dead letter keeps the start of it and says how big the whole was.
    assert letter.raw == original[:MAX_DEAD_LETTER_RAW]
    assert (letter.raw_truncated, letter.raw_size) == (True, len(original))


def test_message_of_exactly_the_limit_is_accepted() -> None:
    engine = primed_engine()
    value = secondary_event(padding="")
    filler = MAX_MESSAGE_BYTES - len(text(value).encode())
    raw = text(secondary_event(padding="x" * filler)).encode()
    assert len(raw) == MAX_MESSAGE_BYTES
    assert_article_ready(engine.receive("eob.secondary", CLAIM, raw, offset=4))


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,
        '{"a": ' * 100_000,
        '{"event_id": ' + "[" * 100_000,
        text(secondary_event(event_id="E-BAD", trace=SENTINEL)).replace(f'"{SENTINEL}"', "[" * 50_000 + "]" * 50_000),
    ],
    ids=["open_lists", "open_objects", "inside_an_object", "closed_in_an_unknown_field"],
)
def test_deeply_nested_json(raw: str) -> None:
    reject("eob.primary", raw, "nested too deeply", claim_id=None)


@pytest.mark.parametrize("field", ["event_id", "payer_id", "claim_id"])
def test_lone_surrogate_escape_in_an_id(field: str) -> None:
    raw = text(event(**{"event_id": "E-BAD", field: "ID-\ud800"}))  # json.dumps writes it as \ud800
    assert "\\ud800" in raw
    claim_id = None if field == "claim_id" else CLAIM
    reject("eob.primary", raw, f"{field}: contains control characters or invalid unicode", claim_id=claim_id)


def test_lone_surrogate_in_a_line_id() -> None:
    raw = text(changed(event(event_id="E-BAD"), ("lines", 0, "line_id"), "\udfff"))
    reject("eob.primary", raw, "lines[0].line_id: contains control characters or invalid unicode")


def test_lone_surrogate_character_in_the_text_is_kept_as_base64() -> None:
    # A str that holds the character itself (not its escape) cannot be written out as UTF-8.
    raw = text(event(event_id="E-BAD", payer_id="SENTINEL")).replace("SENTINEL", "P-\ud800")
    letter = reject("eob.primary", raw, "payer_id: contains control characters or invalid unicode")
    assert letter.raw_encoding == "base64"
    assert base64.b64decode(letter.raw).decode("utf-8", "surrogatepass") == raw


@pytest.mark.parametrize("char", ["\x00", "\x01", "\t", "\n", "\x1b", "\x7f", "\x85", "\x9f"])
@pytest.mark.parametrize("path", [("event_id",), ("lines", 0, "line_id"), ("lines", 0, "procedure_code")], ids=where)
def test_control_characters_in_an_id(path: Path, char: str) -> None:
    raw = text(changed(event(event_id="E-BAD"), path, f"A{char}B"))
    reject("eob.primary", raw, f"{where(path)}: contains control characters")


@pytest.mark.parametrize("value", ["CLM-\u00e9t\u00e9", "\u8a3a\u7642-1", "CLM 1/2#3"])
def test_printable_unicode_in_an_id_is_accepted(value: str) -> None:
    ready = accept_without_secondary(text(no_secondary(event_id=value, claim_id=value)))
    assert ready.claim_id == value


# ---------------------------------------------------------------------------------------------
# Reference data


def standard_engine() -> Engine:
    """AETNA on `standard` with r2 0.80 and a fee schedule allowable of 140 (COB_RULES.md example 5)."""
    engine = Engine()
    profile = {"payer_id": "AETNA", "cob_method": "standard", "coinsurance_rate": "0.80"}
    fee = {"payer_id": "AETNA", "procedure_code": "99214", "modifiers": [], "allowed": "140.00"}
    assert engine.receive("reference.payers", "AETNA", text(profile), offset=1) == []
    assert engine.receive("reference.fee-schedule", "AETNA|99214|", text(fee), offset=2) == []
    return engine


def example5_primary(event_id: str = "EOB-P-5", claim_id: str = "CLM-5") -> dict[str, Any]:
    line = service_line(
        charge="200.00",
        paid="120.00",
        allowed="150.00",
        adjustments=[adjustment("CO", "45", "50.00"), adjustment("PR", "2", "30.00")],
    )
    return event(event_id=event_id, claim_id=claim_id, lines=[line])


def estimate_of(engine: Engine, value: dict[str, Any], offset: int) -> ExpectedSecondaryPayment:
    out = engine.receive("eob.primary", value["claim_id"], text(value), offset=offset)
    [estimate] = [e.value for e in out if isinstance(e.value, ExpectedSecondaryPayment)]
    return estimate


@pytest.mark.parametrize(
    ("profile", "needle"),
    [
        ({"coinsurance_rate": 1.5}, "coinsurance_rate: must be between 0 and 1"),
        ({"coinsurance_rate": "1.5"}, "coinsurance_rate: must be between 0 and 1"),
        ({"coinsurance_rate": "0.12345"}, "coinsurance_rate: has more than four decimals"),
        ({"coinsurance_rate": 0.12345}, "coinsurance_rate: has more than four decimals"),
        ({"coinsurance_rate": -0.5}, "coinsurance_rate: "),
        ({"coinsurance_rate": True}, "coinsurance_rate: "),
        ({"cob_method": "lesser_of_allowable"}, "cob_method: must be 'lesser_of_allowables'"),
        ({"cob_method": "STANDARD"}, "cob_method: "),
        ({"secondary_wait_days": 0}, "secondary_wait_days: must be between 1 and 3650 days"),
        ({"primary_wait_days": 0}, "primary_wait_days: must be between 1 and 3650 days"),
        ({"primary_wait_days": -3}, "primary_wait_days: "),
        ({"secondary_wait_days": 1.5}, "secondary_wait_days: must be a whole number of days"),
        ({"secondary_wait_days": "30"}, "secondary_wait_days: must be a whole number of days"),
        ({"in_network": "yes"}, "in_network: must be true or false"),
        ({"in_network": 1}, "in_network: must be true or false"),
        ({"covers_deductible": "false"}, "covers_deductible: must be true or false"),
        ({"copay": "-1.00"}, "copay: must not be negative"),
        ({"copay": "1.005"}, "copay: has more than two decimals"),
        ({"tolerance": "NaN"}, "tolerance: "),
        ({"payer_id": ""}, "payer_id: "),
        ({"payer_id": None}, "payer_id: "),
    ],
)
def test_invalid_payer_profile_is_dead_lettered_and_the_profile_in_force_stays(
    profile: dict[str, Any], needle: str
) -> None:
    engine = standard_engine()
    # Every other field would change the result if the update were applied.
    update = {"payer_id": "AETNA", "cob_method": "non_duplication", "coinsurance_rate": "0.50", **profile}
    letter = only_dead_letter(engine.receive("reference.payers", "AETNA", text(update), offset=3))
    assert (letter.source_topic, letter.key, letter.offset, letter.claim_id) == ("reference.payers", "AETNA", 3, None)
    assert needle in letter.error, letter.error
    assert "\n" not in letter.error
    # Example 5 under `standard`, r2 0.80, A2 140: B2 112, S 30 (lesser/non_duplication would give 20/0).
    estimate = estimate_of(engine, example5_primary(), offset=4)
    assert estimate.cob_method == "standard"
    assert estimate.lines[0].secondary_benefit == Decimal("112.00")
    assert estimate.expected_secondary_paid == Decimal("30.00")


def test_invalid_payer_profile_json_keeps_the_profile_in_force() -> None:
    engine = standard_engine()
    for offset, raw in enumerate(["[]", "{", "null-ish", '"AETNA"'], start=3):
        letter = only_dead_letter(engine.receive("reference.payers", "AETNA", raw, offset=offset))
        assert letter.source_topic == "reference.payers"
    assert estimate_of(engine, example5_primary(), offset=9).cob_method == "standard"


def test_valid_payer_profile_update_applies() -> None:
    engine = standard_engine()
    update = {"payer_id": "AETNA", "cob_method": "non_duplication", "coinsurance_rate": "0.8"}
    assert engine.receive("reference.payers", "AETNA", text(update), offset=3) == []
    estimate = estimate_of(engine, example5_primary(), offset=4)
    assert (estimate.cob_method, estimate.expected_secondary_paid) == ("non_duplication", Decimal("0.00"))


def test_null_payer_profile_reverts_to_defaults() -> None:
    engine = standard_engine()
    assert engine.receive("reference.payers", "AETNA", None, offset=3) == []
    estimate = estimate_of(engine, example5_primary(), offset=4)
    # Defaults: lesser_of_allowables, r2 1.00: S = min(30, 140, min(150, 140) - 120) = 20.
    assert (estimate.cob_method, estimate.expected_secondary_paid) == ("lesser_of_allowables", Decimal("20.00"))


@pytest.mark.parametrize(
    "key", [None, "", "AETNA|99214", "AETNA", "|99214|", "AETNA||", "AETNA|99214||x", "A" * 300 + "|99214|"]
)
def test_fee_schedule_null_with_a_malformed_key_is_dead_lettered(key: str | None) -> None:
    engine = standard_engine()
    letter = only_dead_letter(engine.receive("reference.fee-schedule", key, None, offset=3))
    assert (letter.source_topic, letter.key, letter.claim_id, letter.raw) == ("reference.fee-schedule", key, None, "")
    assert "a null value deletes an entry and needs its key (payer_id|procedure_code|modifiers)" in letter.error
    assert "\n" not in letter.error
    # The entry in force stays.
    assert estimate_of(engine, example5_primary(), offset=4).allowable_source == "fee_schedule"


@pytest.mark.parametrize("key", [None, ""])
def test_payer_profile_null_without_a_key_is_dead_lettered(key: str | None) -> None:
    engine = standard_engine()
    letter = only_dead_letter(engine.receive("reference.payers", key, None, offset=3))
    assert "needs its key (the payer_id)" in letter.error
    assert estimate_of(engine, example5_primary(), offset=4).cob_method == "standard"


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"allowed": "-1.00"}, "allowed: must not be negative"),
        ({"allowed": "90.001"}, "allowed: has more than two decimals"),
        ({"allowed": None}, "allowed: "),
        ({"modifiers": "26"}, "modifiers: "),
        ({"procedure_code": ""}, "procedure_code: "),
    ],
)
def test_invalid_fee_schedule_entry_is_dead_lettered_and_the_entry_in_force_stays(
    entry: dict[str, Any], needle: str
) -> None:
    engine = standard_engine()
    update = {"payer_id": "AETNA", "procedure_code": "99214", "modifiers": [], "allowed": "10.00", **entry}
    letter = only_dead_letter(engine.receive("reference.fee-schedule", "AETNA|99214|", text(update), offset=3))
    assert needle in letter.error, letter.error
    estimate = estimate_of(engine, example5_primary(), offset=4)
    assert (estimate.allowable_source, estimate.lines[0].secondary_allowable) == ("fee_schedule", Decimal("140.00"))


def test_fee_schedule_null_deletes_and_the_claim_falls_back_to_assumed_primary() -> None:
    engine = standard_engine()
    assert engine.receive("reference.fee-schedule", "AETNA|99214|", None, offset=3) == []
    estimate = estimate_of(engine, example5_primary(), offset=4)
    assert estimate.allowable_source == "assumed_primary"
    assert estimate.lines[0].secondary_allowable == Decimal("150.00")  # A2 = A1


def test_fee_schedule_null_deletes_and_the_claim_falls_back_to_the_secondary_eob() -> None:
    engine = standard_engine()
    assert engine.receive("reference.fee-schedule", "AETNA|99214|", None, offset=3) == []
    secondary_line = service_line(
        charge="200.00",
        paid="30.00",
        allowed="130.00",
        adjustments=[adjustment("CO", "45", "70.00"), adjustment("OA", "23", "100.00")],
    )
    secondary = secondary_event(claim_id="CLM-5", lines=[secondary_line])
    assert engine.receive("eob.secondary", "CLM-5", text(secondary), offset=4) == []  # waits for its primary
    estimate = estimate_of(engine, example5_primary(), offset=5)
    assert estimate.allowable_source == "secondary_eob"
    assert estimate.lines[0].secondary_allowable == Decimal("130.00")


def test_fee_schedule_null_key_modifiers_are_compared_as_a_set() -> None:
    engine = Engine()
    fee = {"payer_id": "AETNA", "procedure_code": "99214", "modifiers": ["TC", "26"], "allowed": "140.00"}
    engine.receive("reference.fee-schedule", "AETNA|99214|26,TC", text(fee), offset=1)
    assert engine.receive("reference.fee-schedule", "AETNA|99214|TC,26", None, offset=2) == []
    assert engine.fee_schedule == {}


def test_fee_schedule_null_for_an_absent_entry_changes_nothing() -> None:
    engine = standard_engine()
    assert engine.receive("reference.fee-schedule", "AETNA|99215|", None, offset=3) == []
    assert estimate_of(engine, example5_primary(), offset=4).allowable_source == "fee_schedule"


# ---------------------------------------------------------------------------------------------
# COB_RULES.md section 7, "Duplicates": validation first, an invalid id is not remembered


@pytest.mark.parametrize(
    "broken",
    [
        lambda v: changed(v, ("lines", 0, "paid"), "80.125"),
        lambda v: changed(v, ("status",), "paid"),
        lambda v: changed(v, ("adjudicated_at",), "2026-03-10T15:00:00"),
        lambda v: changed(v, ("lines", 0, "charge"), "151.00"),
    ],
    ids=["precision", "status", "naive_time", "unbalanced"],
)
def test_an_invalid_primary_id_is_not_remembered(broken: Any) -> None:
    engine = Engine()
    feed_reference(engine)
    only_dead_letter(engine.receive("eob.primary", CLAIM, text(broken(event())), offset=3))
    out = engine.receive("eob.primary", CLAIM, text(event()), offset=4)  # fixed, same event_id
    assert [e.topic for e in out] == ["secondary.expected"]
    assert_article_ready(engine.receive("eob.secondary", CLAIM, text(secondary_event()), offset=5))


def test_an_invalid_secondary_id_is_not_remembered() -> None:
    engine = primed_engine()
    bad = changed(secondary_event(), ("lines", 0, "paid"), "NaN")
    only_dead_letter(engine.receive("eob.secondary", CLAIM, text(bad), offset=4))
    assert_article_ready(engine.receive("eob.secondary", CLAIM, text(secondary_event()), offset=5))


def test_an_accepted_id_resent_with_invalid_content_is_still_dead_lettered() -> None:
    # Validation comes first: the resend is not silently dropped as a duplicate.
    engine = primed_engine()
    bad = changed(event(), ("lines", 0, "paid"), "80.125")
    letter = only_dead_letter(engine.receive("eob.primary", CLAIM, text(bad), offset=4))
    assert "lines[0].paid" in letter.error


# The core's own amounts (Decimals already in cents) take a shortcut through the money type;
# it must agree with the full check on everything the core can produce.
@pytest.mark.parametrize(
    ("amount", "expected"),
    [("80.00", "80.00"), ("-0.00", "0.00"), ("999999999.99", "999999999.99"), ("-12.30", "-12.30"), ("80.1", "80.10")],
)
def test_money_the_core_computed_is_kept_as_cents(amount: str, expected: str) -> None:
    kept = parse_money(Decimal(amount))
    assert str(kept) == expected
    assert kept.as_tuple().exponent == -2


@pytest.mark.parametrize("amount", ["1000000000.00", "-1000000000.00", "NaN", "80.125"])
def test_money_the_core_computed_beyond_the_contract_is_refused(amount: str) -> None:
    with pytest.raises(PydanticCustomError):
        parse_money(Decimal(amount))

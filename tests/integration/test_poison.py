"""Poison on every input topic: hypothesis-generated garbage becomes one dead letter per message,
the worker stays up, and the valid events sent between the garbage still reconcile.

One worker takes the whole batch (a worker start costs seconds). The oracle is the in-process
`Engine` (the core behind `cobstream replay`) fed the same bytes, keys, partitions and offsets in
the same order: every dead letter must match it field for field (but for its receive time) and
every other outcome must match it but for `produced_at`.

The garbage is drawn with hypothesis strategies, deterministically (`derandomize`), and every
message is invalid by construction; the engine confirms each one yields exactly one dead letter
and nothing else before the worker sees it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from harness import Deployment, Worker
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from cobstream.engine import Engine
from models.cob.processor import Published
from models.contract.events import COB_METHODS
from models.contract.topics import OUTPUT_TOPICS
from models.remittance.decode import MAX_MESSAGE_BYTES
from streams.codec import kafka_key_text

PRIMARY, SECONDARY = "eob.primary", "eob.secondary"
PAYERS, FEES = "reference.payers", "reference.fee-schedule"
DEAD_LETTER = "eob.dead-letter"
# Worker log lines that mean an agent or task died (Faust's supervisor restarts crashed agents).
CRASH_MARKS = ("Traceback", "Crashed reason", "Restarting dead")
SENTINEL = "@@POISON@@"


@dataclass
class Message:
    topic: str
    key: bytes | None
    value: bytes | None
    kind: str  # "valid", or the kind of poison
    partition: int | None = field(default=None, compare=False)
    offset: int | None = field(default=None, compare=False)

    @property
    def poison(self) -> bool:
        return self.kind != "valid"


# ------------------------------------------------------------------------ valid events ---


def _at() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).isoformat()


def primary_eob(claim: str, secondary_payer: str = "AETNA") -> dict[str, Any]:
    return {
        "event_id": f"P-{claim}"[:128],
        "claim_id": claim,
        "payer_id": "BCBS-TX",
        "payer_name": "Blue Cross Blue Shield of Texas",
        "status": "processed",
        "adjudicated_at": _at(),
        "secondary_payer_id": secondary_payer,
        "lines": [
            {
                "line_id": "1",
                "procedure_code": "99214",
                "service_date": "2026-03-02",
                "modifiers": ["25"],
                "charge": "150.00",
                "paid": "80.00",
                "allowed": "100.00",
                "adjustments": [
                    {"group": "CO", "reason": "45", "amount": "50.00"},
                    {"group": "PR", "reason": "2", "amount": "20.00"},
                ],
            }
        ],
    }


def secondary_eob(claim: str, paid: str = "20.00", payer: str = "AETNA") -> dict[str, Any]:
    written_off = f"{150 - float(paid):.2f}"
    return {
        "event_id": f"S-{claim}"[:128],
        "claim_id": claim,
        "payer_id": payer,
        "status": "processed",
        "adjudicated_at": _at(),
        "lines": [
            {
                "line_id": "1",
                "procedure_code": "99214",
                "service_date": "2026-03-02",
                "modifiers": ["25"],
                "charge": "150.00",
                "paid": paid,
                "adjustments": [{"group": "OA", "reason": "23", "amount": written_off}],
            }
        ],
    }


def payer_profile() -> dict[str, Any]:
    return {
        "payer_id": "AETNA",
        "cob_method": "standard",
        "in_network": True,
        "coinsurance_rate": "0.80",
        "copay": "5.00",
        "covers_deductible": True,
        "tolerance": "0.01",
        "secondary_wait_days": 30,
        "primary_wait_days": 30,
    }


def fee_entry() -> dict[str, Any]:
    return {"payer_id": "AETNA", "procedure_code": "99214", "modifiers": ["25"], "allowed": "90.00"}


# Claim ids with zero-width joiners, a right-to-left override, Arabic, an emoji and the longest
# id accepted: unusual but valid (format characters are not control characters).
VALID_CLAIMS = [
    "CLM-P-0001",
    "CLM-P-0002",
    "CLM-\u200b\u200d-ZW",
    "CLM-\u202e-RTL-\u0645\u0631\u062d\u0628\u0627",
    "CLM-\U0001f600-\ufeff",
    "C" * 128,
    "CLM-P-0007",
    "CLM-P-0008",
    "CLM-P-0009",
    "CLM-P-0010",
]


def valid_claim(n: int, claim: str) -> list[Message]:
    paid = "15.00" if n % 3 == 2 else "20.00"  # some underpaid: a discrepancy instead of ready
    return [
        Message(PRIMARY, claim.encode(), _dumps(primary_eob(claim)), "valid"),
        Message(SECONDARY, claim.encode(), _dumps(secondary_eob(claim, paid)), "valid"),
    ]


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# ------------------------------------------------------------------ poison fragments ---
# Each strategy yields the JSON text of a value that is invalid for one kind of field.


def _fixed(*texts: str) -> SearchStrategy[bytes]:
    return st.sampled_from([t.encode() for t in texts])


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: lone surrogates are written as \udxxx escapes


NOT_A_STRING = _fixed("42", "-7", "0.5", "1e400", "-0.0e5", "NaN", "Infinity", "true", "false", "[]", "{}", '["A"]')
# Characters the contract refuses in any string: C0/C1 controls and lone surrogates. (Zero-width
# and right-to-left characters are valid and are used in the valid claim ids above.)
BAD_CHARACTERS = ["\x00", "\x01", "\t", "\n", "\x1f", "\x7f", "\x85", "\x9f", "\ud800", "\udbff", "\udc00", "\udfff"]
SAFE_CHARACTERS = st.characters(codec="utf-8", categories=["L", "N", "Pd", "Zs"])


def _with_bad_character() -> SearchStrategy[bytes]:
    around = st.text(SAFE_CHARACTERS, max_size=12)
    return st.tuples(around, st.sampled_from(BAD_CHARACTERS), around).map(lambda t: _json("".join(t)))


def _too_long(limit: int) -> SearchStrategy[bytes]:
    return st.one_of(
        st.integers(limit + 1, limit + 100).map(lambda n: _json("X" * n)),
        st.text(SAFE_CHARACTERS, min_size=limit + 1, max_size=limit + 40).map(_json),
    )


def string_poison(limit: int, *, nullable: bool) -> SearchStrategy[bytes]:
    choices = [NOT_A_STRING, _too_long(limit), _with_bad_character()]
    if not nullable:
        choices.append(_fixed('""', "null"))
    return st.one_of(*choices)


def literal_poison(allowed: tuple[str, ...]) -> SearchStrategy[bytes]:
    wrong_text = st.text(max_size=20).filter(lambda s: s not in allowed).map(_json)
    return st.one_of(NOT_A_STRING, wrong_text, st.sampled_from([_json(a.swapcase()) for a in allowed]))


MONEY_POISON = st.one_of(
    _fixed(
        "1e400",
        "-1e400",
        "1E2",
        "-0.0e5",
        "0e0",
        "NaN",
        "Infinity",
        "-Infinity",
        "80.125",
        '"80.125"',
        "true",
        "false",
        '"ten"',
        '""',
        '"80.00.00"',
        '"$80.00"',
        '"1,000.00"',
        '" 80.00"',
        "[]",
        "{}",
        '["80.00"]',
        "1000000000",
        '"1000000000.00"',
        "99999999999999999999999",
        '"0x50"',
        "0.001",
    ),
    # Three decimals with a non-zero third: more than cents.
    st.integers(1, 10**9).filter(lambda n: n % 10).map(lambda n: f"{n // 1000}.{n % 1000:03d}".encode()),
    st.integers(-400, 400).map(lambda e: f"8.0e{e}".encode()),  # any exponent is refused
    st.integers(10**9, 10**40).map(lambda n: str(n).encode()),  # beyond 999,999,999.99
    # A number of 300,000 digits: kept as text, refused without converting it.
    st.integers(100_000, 300_000).map(lambda n: b"9" * n),
)
NEGATIVE_MONEY = _fixed('"-0.01"', "-5", '"-80.00"')
RATE_POISON = _fixed(
    '"1.5"',
    "2",
    "-0.1",
    '"-0.10"',
    '"0.12345"',
    "0.12345",
    "1e400",
    "8e-1",
    "NaN",
    "Infinity",
    "true",
    "[]",
    '"80%"',
    '""',
    "null.5",
)
DAYS_POISON = st.one_of(
    _fixed("0", "-1", "3651", "1.5", '"30"', "true", "1e400", "30e0", "NaN", "Infinity", "[]", "{}"),
    st.integers(3651, 10**30).map(lambda n: str(n).encode()),
    st.integers(max_value=0).map(lambda n: str(n).encode()),
)
FLAG_POISON = _fixed("1", "0", '"true"', '"yes"', "[]", "{}", "NaN", '""')
TIMESTAMP_POISON = st.one_of(
    _fixed(
        '"2026-03-02T10:00:00"',
        '"2026-03-02"',
        '"2026-02-30T00:00:00Z"',
        '"2026-13-01T00:00:00Z"',
        '"yesterday"',
        '""',
        "1767225600",
        "1.7e9",
        "true",
        "[]",
        "{}",
        "null",
        '"2026-03-02T25:00:00Z"',
        '"2026-03-02T10:00:00+25:00"',
    ),
    st.integers(65, 500).map(lambda n: _json("2026-03-02T10:00:00Z" + " " * n)),  # longer than a timestamp
)
DATE_POISON = _fixed(
    '"2026-3-2"',
    '"2026-02-30"',
    '"03/02/2026"',
    "20260302",
    '"2026-03-02T00:00:00Z"',
    '""',
    "null",
    "true",
    '"2026-03-0\\u0000"',
    "[]",
)
LINES_POISON = st.one_of(
    _fixed("[]", "{}", "null", '"lines"', "[1]", "[null]", "[[]]", "[{}]", "1e400"),
    # More service lines than the X12 limit (999).
    st.integers(1000, 1100).map(
        lambda n: _json([{**primary_eob("X")["lines"][0], "line_id": str(i)} for i in range(n)])
    ),
)
LIST_OF_CODES_POISON = st.one_of(
    _fixed('"25"', "[25]", "[null]", '[""]', "{}", "true", '["' + "M" * 33 + '"]', '["\\ud800"]'),
    st.integers(21, 60).map(lambda n: _json([f"M{i}" for i in range(n)])),  # more than 20
)
ADJUSTMENTS_POISON = st.one_of(
    _fixed("{}", "[1]", "[{}]", "null", '"CO-45"'),
    st.integers(100, 150).map(lambda n: _json([{"group": "CO", "reason": "45", "amount": "0.00"}] * n)),
)


@dataclass(frozen=True)
class Field:
    path: tuple[str | int, ...]
    poison: SearchStrategy[bytes]
    required: bool = True


def eob_fields(role: str) -> list[Field]:
    line, adjustment = ("lines", 0), ("lines", 0, "adjustments", 0)
    found = [
        Field(("event_id",), string_poison(128, nullable=False)),
        Field(("claim_id",), string_poison(128, nullable=False)),
        Field(("payer_id",), string_poison(128, nullable=False)),
        Field(("payer_name",), string_poison(256, nullable=True), required=False),
        Field(("payer_claim_number",), string_poison(256, nullable=True), required=False),
        Field(("status",), literal_poison(("processed", "denied", "reversed"))),
        Field(("adjudicated_at",), TIMESTAMP_POISON),
        Field(("lines",), LINES_POISON),
        Field((*line, "line_id"), string_poison(128, nullable=False)),
        Field((*line, "procedure_code"), string_poison(32, nullable=False)),
        Field((*line, "service_date"), DATE_POISON),
        Field((*line, "modifiers"), LIST_OF_CODES_POISON, required=False),
        Field((*line, "remarks"), LIST_OF_CODES_POISON, required=False),
        Field((*line, "charge"), st.one_of(MONEY_POISON, NEGATIVE_MONEY, _fixed("null"))),
        Field((*line, "paid"), st.one_of(MONEY_POISON, NEGATIVE_MONEY, _fixed("null"))),
        Field((*line, "allowed"), st.one_of(MONEY_POISON, NEGATIVE_MONEY), required=False),
        Field((*line, "adjustments"), ADJUSTMENTS_POISON, required=False),
        Field((*adjustment, "group"), literal_poison(("CO", "PR", "OA", "PI", "CR"))),
        Field((*adjustment, "reason"), string_poison(32, nullable=False)),
        Field((*adjustment, "amount"), st.one_of(MONEY_POISON, _fixed("null"))),
    ]
    if role == "primary":  # ignored on eob.secondary, whatever it holds
        found.append(Field(("secondary_payer_id",), string_poison(128, nullable=True)))
    return found


PAYER_FIELDS = [
    Field(("payer_id",), string_poison(128, nullable=False)),
    Field(("cob_method",), literal_poison(COB_METHODS), required=False),
    Field(("in_network",), FLAG_POISON, required=False),
    Field(("coinsurance_rate",), RATE_POISON, required=False),
    Field(("copay",), st.one_of(MONEY_POISON, NEGATIVE_MONEY), required=False),
    Field(("covers_deductible",), FLAG_POISON, required=False),
    Field(("tolerance",), st.one_of(MONEY_POISON, NEGATIVE_MONEY), required=False),
    Field(("secondary_wait_days",), DAYS_POISON, required=False),
    Field(("primary_wait_days",), DAYS_POISON, required=False),
]
FEE_FIELDS = [
    Field(("payer_id",), string_poison(128, nullable=False)),
    Field(("procedure_code",), string_poison(32, nullable=False)),
    Field(("modifiers",), LIST_OF_CODES_POISON, required=False),
    Field(("allowed",), st.one_of(MONEY_POISON, NEGATIVE_MONEY, _fixed("null"))),
]


def splice(value: dict[str, Any], path: tuple[str | int, ...], fragment: bytes) -> bytes:
    """`value` as JSON with the field at `path` replaced by the JSON text `fragment` (which may be
    anything: a literal json.dumps cannot write, such as 1e400, or bytes that are not UTF-8)."""
    copy = json.loads(json.dumps(value))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = SENTINEL
    return _dumps(copy).replace(_json(SENTINEL), fragment, 1)


def without(value: dict[str, Any], path: tuple[str | int, ...]) -> bytes:
    copy = json.loads(json.dumps(value))
    target = copy
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return _dumps(copy)


# --------------------------------------------------------------- poison per topic ---


def _random_bytes() -> SearchStrategy[bytes]:
    # 0xFF never occurs in UTF-8, so the bytes cannot be text whatever else they hold.
    return st.tuples(st.binary(max_size=48), st.binary(max_size=48)).map(lambda t: t[0] + b"\xff" + t[1])


def _random_text() -> SearchStrategy[bytes]:
    return st.text(st.characters(codec="utf-8"), max_size=48).map(lambda s: s.encode())


JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(st.characters(codec="utf-8"), max_size=16)
)
NON_OBJECT_JSON = st.one_of(
    JSON_LEAVES,
    st.lists(st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3), max_leaves=10), max_size=5),
).map(lambda v: json.dumps(v).encode())  # json.dumps writes NaN and Infinity for such floats

# Far deeper than any parser's recursion limit, small enough for the dead letter to stay small.
DEEP = st.tuples(st.sampled_from(["[", '{"a":', '{"lines":[']), st.integers(20_000, 30_000)).map(
    lambda t: (t[0] * t[1]).encode()
)

# Bytes that are not UTF-8 inside an otherwise valid message: an overlong "/", a UTF-8-encoded
# surrogate, a truncated sequence, a code point above U+10FFFF, a lone continuation byte.
BAD_UTF8 = [b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80", b"\xfe"]


def _unicode_in(base: dict[str, Any], fields: list[tuple[str | int, ...]]) -> SearchStrategy[bytes]:
    return st.one_of(
        # Escaped lone surrogates and control characters: valid JSON, refused by the contract.
        st.tuples(st.sampled_from(fields), _with_bad_character()).map(lambda t: splice(base, *t)),
        # Raw bytes that are not UTF-8 inside a string.
        st.tuples(st.sampled_from(fields), st.sampled_from(BAD_UTF8)).map(
            lambda t: splice(base, t[0], b'"ID-' + t[1] + b'"')
        ),
        # A raw control character inside a JSON string is not JSON.
        st.tuples(st.sampled_from(fields), st.sampled_from([b"\x00", b"\x01", b"\n", b"\x1f"])).map(
            lambda t: splice(base, t[0], b'"ID' + t[1] + b'"')
        ),
    )


def _mutation(base: dict[str, Any], fields: list[Field]) -> SearchStrategy[bytes]:
    return st.sampled_from(fields).flatmap(lambda f: f.poison.map(lambda fragment: splice(base, f.path, fragment)))


def _missing(base: dict[str, Any], fields: list[Field]) -> SearchStrategy[bytes]:
    return st.sampled_from([f.path for f in fields if f.required]).map(lambda path: without(base, path))


def _numbers(base: dict[str, Any], fields: list[Field], money: list[tuple[str | int, ...]]) -> SearchStrategy[bytes]:
    by_path = {f.path: f for f in fields}
    special = _fixed("1e400", "-0.0e5", "NaN", "Infinity", "-Infinity", "80.125", "true", "false")
    return st.one_of(
        st.tuples(st.sampled_from(money), special).map(lambda t: splice(base, *t)),
        st.sampled_from(money).flatmap(lambda p: by_path[p].poison.map(lambda fragment: splice(base, p, fragment))),
    )


def _huge(base: dict[str, Any], fields: list[tuple[tuple[str | int, ...], int]]) -> SearchStrategy[bytes]:
    # Strings over their limit, up to 400,000 characters (the dead letter must stay publishable).
    return st.tuples(st.sampled_from(fields), st.integers(1, 400_000)).map(
        lambda t: splice(base, t[0][0], _json("Z" * (t[0][1] + t[1])))
    )


def eob_poison(role: str, base: dict[str, Any]) -> dict[str, tuple[SearchStrategy[bytes], int]]:
    fields = eob_fields(role)
    ids = [("event_id",), ("claim_id",), ("payer_id",), ("lines", 0, "line_id"), ("lines", 0, "procedure_code")]
    money = [("lines", 0, name) for name in ("charge", "paid", "allowed")] + [("lines", 0, "adjustments", 0, "amount")]
    return {
        "random_bytes": (_random_bytes(), 4),
        "random_text": (_random_text(), 3),
        "json_not_an_object": (NON_OBJECT_JSON, 4),
        "deep_json": (DEEP, 2),
        "deep_json_in_a_field": (st.integers(20_000, 60_000).map(lambda n: splice(base, ("lines",), b"[" * n)), 1),
        "huge_strings": (
            _huge(
                base,
                [
                    (("claim_id",), 128),
                    (("event_id",), 128),
                    (("payer_name",), 256),
                    (("lines", 0, "procedure_code"), 32),
                ],
            ),
            4,
        ),
        "wrong_types": (_mutation(base, fields), 14),
        "missing_fields": (_missing(base, fields), 3),
        "unicode": (_unicode_in(base, ids), 6),
        "numbers": (_numbers(base, fields, money), 8),
    }


def reference_poison(topic: str) -> dict[str, tuple[SearchStrategy[bytes], int]]:
    base, fields = (payer_profile(), PAYER_FIELDS) if topic == PAYERS else (fee_entry(), FEE_FIELDS)
    money = [("copay",), ("tolerance",)] if topic == PAYERS else [("allowed",)]
    ids = [("payer_id",)] if topic == PAYERS else [("payer_id",), ("procedure_code",)]
    extra: dict[str, tuple[SearchStrategy[bytes], int]] = {}
    if topic == PAYERS:
        rates = _fixed("1e400", "NaN", "Infinity", "1.5", "0.12345", "true", "-0.0e5")
        extra["numbers_in_rates_and_days"] = (
            st.one_of(
                rates.map(lambda r: splice(base, ("coinsurance_rate",), r)),
                DAYS_POISON.map(lambda d: splice(base, ("secondary_wait_days",), d)),
            ),
            4,
        )
    return {
        "random_bytes": (_random_bytes(), 3),
        "random_text": (_random_text(), 2),
        "json_not_an_object": (NON_OBJECT_JSON, 3),
        "deep_json": (DEEP, 2),
        "huge_strings": (_huge(base, [(ids[-1], 128 if ids[-1] == ("payer_id",) else 32)]), 2),
        "wrong_types": (_mutation(base, fields), 10),
        "missing_fields": (_missing(base, fields), 2),
        "unicode": (_unicode_in(base, ids), 4),
        "numbers": (_numbers(base, fields, money), 5),
        **extra,
    }


# A null value deletes a reference entry and needs a well-formed key (payer_id, or
# payer_id|procedure_code|modifiers). Keys that are null cannot be written to a compacted topic.
MALFORMED_DELETE_KEYS = {
    PAYERS: [b"", b"P" * 257],
    FEES: [
        b"",
        b"AETNA",
        b"AETNA|99214",
        b"AETNA|99214|25|59",
        b"|99214|25",
        b"AETNA||25",
        b"AETNA|" + b"9" * 33 + b"|",
    ],
}


def _examples(strategy: SearchStrategy[tuple[bytes | None, bytes]], count: int) -> list[tuple[bytes | None, bytes]]:
    """`count` (key, value) examples of `strategy` with distinct values, the same on every run
    (hypothesis, derandomized)."""
    found: dict[bytes, bytes | None] = {}

    @settings(
        max_examples=4 * count,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: tuple[bytes | None, bytes]) -> None:
        key, value = example
        found.setdefault(value, key)

    collect()
    return [(key, value) for value, key in found.items()][:count]


_KEYS = st.one_of(st.none(), st.binary(max_size=24), st.just(b"CLM-P-0001"), st.binary(min_size=300, max_size=400))


def poison_batch() -> list[Message]:
    """Every kind of poison on every input topic, in a fixed order."""
    batch: list[Message] = []
    claim = VALID_CLAIMS[0]  # poison that names a valid claim must not touch it
    bases = {PRIMARY: ("primary", primary_eob(claim)), SECONDARY: ("secondary", secondary_eob(claim))}
    for topic, (role, base) in bases.items():
        for kind, (strategy, count) in eob_poison(role, base).items():
            for key, value in _examples(st.tuples(_KEYS, strategy), count):
                batch.append(Message(topic, key, value, kind))
        batch.append(Message(topic, claim.encode(), None, "null_value"))
        batch.append(Message(topic, b"", None, "null_value"))  # (aiokafka sends no null key with a null value)
    for topic in (PAYERS, FEES):
        for kind, (strategy, count) in reference_poison(topic).items():
            # Compacted topics refuse messages without a key.
            keys = st.one_of(st.binary(min_size=1, max_size=24), st.just(b"AETNA"))
            for key, value in _examples(st.tuples(keys, strategy), count):
                batch.append(Message(topic, key, value, kind))
        for key in MALFORMED_DELETE_KEYS[topic]:
            batch.append(Message(topic, key, None, "malformed_delete"))
    return batch


def interleave(poison: list[Message], claims: list[list[Message]]) -> list[Message]:
    """The poison in a shuffled (fixed) order, the claims spread evenly among it: each claim's
    secondary right after its primary, or a few poison messages later."""
    out = list(poison)
    random.Random(20260324).shuffle(out)
    stride = len(out) // (len(claims) + 1)
    for n in reversed(range(len(claims))):  # from the end, so that earlier positions hold
        primary, secondary = claims[n]
        at = (n + 1) * stride
        out.insert(at + (n % 2) * 3, secondary)
        out.insert(at, primary)
    return out


# ----------------------------------------------------------------------- plumbing ---


async def send_all(deployment: Deployment, messages: list[Message], pause: float = 0.02, **options: Any) -> None:
    """One at a time, each acknowledged before the next, so the worker takes them in this order.
    Records the partition and offset of each."""
    options.setdefault("max_request_size", MAX_MESSAGE_BYTES + 64 * 1024)
    producer = AIOKafkaProducer(bootstrap_servers=deployment.settings.broker_list, **options)
    await producer.start()
    try:
        for message in messages:
            sent = await producer.send_and_wait(deployment.settings.topic(message.topic), message.value, message.key)
            message.partition, message.offset = sent.partition, sent.offset
            await asyncio.sleep(pause)
    finally:
        await producer.stop()


async def read_outputs(deployment: Deployment, count: int, timeout: float, settle: float) -> list[dict[str, Any]]:
    """Every output event, once `count` have arrived and nothing new came for `settle` seconds.
    Kafka keys stay bytes: a dead letter keeps the original key, which need not be UTF-8."""
    names = {deployment.settings.topic(t): t for t in OUTPUT_TOPICS}
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=deployment.settings.broker_list,
        group_id=None,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * MAX_MESSAGE_BYTES,
    )
    await consumer.start()
    events: list[dict[str, Any]] = []
    try:
        quiet_since = time.monotonic()
        deadline = quiet_since + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    events.append({"topic": names[r.topic], "kafka_key": r.key, "value": json.loads(r.value)})
                quiet_since = time.monotonic()
            if len(events) >= count and time.monotonic() - quiet_since >= settle:
                break
    finally:
        await consumer.stop()
    return events


def oracle(messages: list[Message]) -> list[Published]:
    engine = Engine()
    emitted: list[Published] = []
    for m in messages:
        emitted += engine.receive(m.topic, kafka_key_text(m.key), m.value, partition=m.partition, offset=m.offset)
    return emitted


def check_poison_is_poison(messages: list[Message]) -> None:
    """The generator's promise, checked on the core: each poison message yields exactly one dead
    letter and nothing else, and no valid message yields one."""
    engine = Engine()
    wrong = []
    for m in messages:
        out = engine.receive(m.topic, kafka_key_text(m.key), m.value)
        letters = [e for e in out if e.topic == DEAD_LETTER]
        if m.poison and (len(out), len(letters)) != (1, 1):
            wrong.append(f"{m.kind} on {m.topic} was accepted: {(m.value or b'')[:300]!r}")
        if not m.poison and letters:
            wrong.append(f"valid {m.topic} message dead-lettered: {letters[0].value.error}")  # type: ignore[union-attr]
    assert not wrong, "\n".join(wrong[:10])


def _letter_fields(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "received_at"}


def _outcome(topic: str, value: dict[str, Any]) -> str:
    return json.dumps({"topic": topic, "value": {k: v for k, v in value.items() if k != "produced_at"}}, sort_keys=True)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) < 400 else text[:400] + f"... ({len(text)} characters)"


def assert_worker_healthy(worker: Worker) -> None:
    assert worker.process.poll() is None, "the worker exited:\n" + worker.text()[-3000:]
    log = worker.text()
    crashes = [line for line in log.splitlines() if any(mark in line for mark in CRASH_MARKS)]
    assert not crashes, "the worker log shows a crash:\n" + "\n".join(c[:500] for c in crashes[:10])


def assert_stream_matches_oracle(events: list[dict[str, Any]], messages: list[Message]) -> None:
    expected = oracle(messages)
    poison = {(m.topic, m.partition, m.offset): m for m in messages if m.poison}

    # Dead letters: exactly one per poison message, found by its topic, partition and offset.
    letters = [e["value"] for e in events if e["topic"] == DEAD_LETTER]
    by_origin: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
    for letter in letters:
        by_origin.setdefault((letter["source_topic"], letter["partition"], letter["offset"]), []).append(letter)
    missing = [poison[o] for o in poison if o not in by_origin]
    doubled = {o: len(ls) for o, ls in by_origin.items() if len(ls) > 1}
    strays = [ls[0] for o, ls in by_origin.items() if o not in poison]
    per_topic = Counter(m.topic for m in poison.values())
    got_per_topic = Counter(letter["source_topic"] for letter in letters)
    assert not missing, (
        f"{len(missing)} poison messages have no dead letter (dead letters per topic {dict(got_per_topic)}, "
        f"poison per topic {dict(per_topic)}); first: "
        + "; ".join(f"{m.kind} on {m.topic}@{m.partition}/{m.offset}: {(m.value or b'')[:120]!r}" for m in missing[:5])
    )
    assert not doubled, f"poison messages with more than one dead letter: {doubled}"
    assert not strays, f"valid messages dead-lettered: {[_short(s) for s in strays[:3]]}"
    assert got_per_topic == per_topic

    want_letters = {
        (e.value.source_topic, e.value.partition, e.value.offset): _letter_fields(e.value.model_dump(mode="json"))  # type: ignore[union-attr]
        for e in expected
        if e.topic == DEAD_LETTER
    }
    differing = [
        f"{poison[o].kind} on {o}: got {_short(_letter_fields(ls[0]))}, replay says {_short(want_letters[o])}"
        for o, ls in by_origin.items()
        if _letter_fields(ls[0]) != want_letters[o]
    ]
    assert not differing, f"{len(differing)} dead letters differ from the replay's:\n" + "\n".join(differing[:5])
    for event in events:
        if event["topic"] == DEAD_LETTER:
            origin = poison[(event["value"]["source_topic"], event["value"]["partition"], event["value"]["offset"])]
            assert event["kafka_key"] == origin.key  # re-published under the original key

    # Everything else: what the replay of the same bytes publishes, event for event.
    got = Counter(_outcome(e["topic"], e["value"]) for e in events if e["topic"] != DEAD_LETTER)
    want = Counter(_outcome(e.topic, e.value.model_dump(mode="json")) for e in expected if e.topic != DEAD_LETTER)
    assert not want - got, f"missing outcomes: {list(want - got)[:3]}"
    assert not got - want, f"unexpected outcomes: {list(got - want)[:3]}"


# -------------------------------------------------------------------------- tests ---


def test_poison_on_every_input_topic_becomes_one_dead_letter_each(deployment: Deployment) -> None:
    claims = [valid_claim(n, claim) for n, claim in enumerate(VALID_CLAIMS)]
    messages = interleave(poison_batch(), claims)
    # After all the poison: a valid profile and fee schedule entry for a new payer, then a claim
    # whose numbers depend on both, so the reference reader must have survived the poison too.
    late = [
        Message(PAYERS, b"CIGNA-P", _dumps({"payer_id": "CIGNA-P", "cob_method": "non_duplication"}), "valid"),
        Message(FEES, b"CIGNA-P|99214|25", _dumps({**fee_entry(), "payer_id": "CIGNA-P", "allowed": "95.00"}), "valid"),
    ]
    last_claim = "CLM-P-REFERENCE"
    last = [
        Message(PRIMARY, last_claim.encode(), _dumps(primary_eob(last_claim, "CIGNA-P")), "valid"),
        Message(SECONDARY, last_claim.encode(), _dumps(secondary_eob(last_claim, "15.00", "CIGNA-P")), "valid"),
    ]
    everything = messages + late + last
    check_poison_is_poison(everything)
    expected_count = len(oracle(everything))

    worker = deployment.start_worker()
    asyncio.run(send_all(deployment, messages))
    asyncio.run(send_all(deployment, late))
    time.sleep(3)  # every worker reads the reference topics on its own; give it a moment
    asyncio.run(send_all(deployment, last))
    events = asyncio.run(read_outputs(deployment, expected_count, timeout=60, settle=3))

    assert_worker_healthy(worker)
    assert_stream_matches_oracle(events, everything)
    ready = {e["value"]["claim_id"] for e in events if e["topic"] == "billing.ready"}
    discrepancies = {e["value"]["claim_id"] for e in events if e["topic"] == "billing.discrepancy"}
    assert ready | discrepancies == {*VALID_CLAIMS, last_claim}


# ------------------------------------------------- big input and extreme values ---


def _run_alone(
    deployment: Deployment, messages: list[Message], expected: int, **producer: Any
) -> tuple[Worker, list[dict[str, Any]], list[Message]]:
    """Start a worker, send `messages` and then one valid claim (two outcomes); return the worker,
    the outputs once `expected` + 2 have arrived (or 20 s passed), and everything sent."""
    everything = [*messages, *valid_claim(0, "CLM-P-AFTER")]
    worker = deployment.start_worker()
    asyncio.run(send_all(deployment, everything, pause=0.05, **producer))
    events = asyncio.run(read_outputs(deployment, expected + 2, timeout=20, settle=3))
    return worker, events, everything


def test_big_poison_becomes_one_dead_letter_each(deployment: Deployment) -> None:
    poison = [
        # Over MAX_MESSAGE_BYTES; compressed, so the broker takes it with its default limits.
        Message(PRIMARY, b"over-limit", b"{" + b" " * (2 * MAX_MESSAGE_BYTES), "over_the_size_limit"),
        # Under the limit, but 800 KB that are not UTF-8 are 1.07 MB in base64.
        Message(SECONDARY, b"binary", b"\xff" * 800_000, "grows_past_the_limit_in_base64"),
        # Under the limit, but 200,000 control characters are 1.2 MB escaped as \u0001.
        Message(PRIMARY, b"controls", b"\x01" * 200_000, "grows_past_the_limit_escaped"),
    ]
    worker, events, _ = _run_alone(
        deployment, poison, len(poison), compression_type="gzip", max_request_size=4 * MAX_MESSAGE_BYTES
    )
    letters = {(e["value"]["source_topic"], e["value"]["offset"]) for e in events if e["topic"] == DEAD_LETTER}
    lost = [m.kind for m in poison if (m.topic, m.offset) not in letters]
    assert not lost, f"no dead letter for {lost}"
    assert "billing.ready" in {e["topic"] for e in events}
    assert_worker_healthy(worker)


def test_a_timestamp_out_of_range_is_an_ordinary_dead_letter(deployment: Deployment) -> None:
    poison = [
        Message(
            PRIMARY, b"ts", splice(primary_eob("CLM-TS"), ("adjudicated_at",), b'"0001-01-01T00:00:00+01:00"'), "ts"
        ),
        Message(
            SECONDARY, b"ts", splice(secondary_eob("CLM-TS"), ("adjudicated_at",), b'"9999-12-31T23:59:59-01:00"'), "ts"
        ),
    ]
    worker, events, _ = _run_alone(deployment, poison, len(poison))
    letters = [e["value"] for e in events if e["topic"] == DEAD_LETTER]
    assert len(letters) == 2
    for letter in letters:
        assert letter["error"].startswith("adjudicated_at:"), letter["error"]
    assert_worker_healthy(worker)


def _widened(eob: dict[str, Any], extra_adjustments: int) -> bytes:
    """The EOB with 999 service lines (the X12 limit), each with `extra_adjustments` more zero
    adjustments: as big as a claim gets while within every limit of the contract."""
    line = eob["lines"][0]
    padding = [{"group": "OA", "reason": "94", "amount": "0.00"}] * extra_adjustments
    lines = [{**line, "line_id": f"L{n:03d}", "adjustments": line["adjustments"] + padding} for n in range(999)]
    return json.dumps({**eob, "lines": lines}, separators=(",", ":")).encode()


def test_a_claim_within_every_limit_does_not_stop_the_worker(deployment: Deployment) -> None:
    claim = "CLM-P-WIDE"
    messages = [
        Message(PRIMARY, claim.encode(), _widened(primary_eob(claim), 4), "valid"),  # 430 KB
        Message(SECONDARY, claim.encode(), _widened(secondary_eob(claim), 4), "valid"),  # 367 KB
    ]
    assert all(len(m.value or b"") < MAX_MESSAGE_BYTES // 2 for m in messages)
    check_poison_is_poison(messages)
    worker, events, everything = _run_alone(deployment, messages, 4)  # an estimate and a billing.ready
    assert_worker_healthy(worker)
    assert_stream_matches_oracle(events, everything)

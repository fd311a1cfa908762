"""`cobstream convert`'s command line; the body is `cobstream.convert.cmd_convert`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred

FORMATS = ("fhir", "x12")


def register(subparsers: argparse._SubParsersAction) -> None:
    convert = subparsers.add_parser(
        "convert",
        help="convert X12 835 or FHIR ExplanationOfBenefit files (and X12 837P/837I claims) into replay JSONL",
        description="Write one replay line ({topic, key, value}) per EOB (and per claim of an 837, on "
        "claims.submitted) on standard output, ready for "
        "`cobstream replay -` or `cobstream produce -`. Rejections and provider adjustments are reported on "
        "standard error. Exit 0: all converted; 1: something rejected; 2: unusable file or argument.",
    )
    convert.add_argument("format", choices=FORMATS, help="x12 (5010 835, 837P, 837I) or fhir (R4 JSON, NDJSON, Bundle)")
    convert.add_argument("files", nargs="+", metavar="FILE", help="files to convert, in order; - for standard input")
    convert.add_argument(
        "--dead-letters",
        metavar="PATH",
        help="also write each rejection as an eob.dead-letter event (JSONL) with its reason and original text",
    )
    convert.set_defaults(run=deferred("cobstream.convert:cmd_convert"))

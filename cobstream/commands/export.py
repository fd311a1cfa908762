"""`cobstream export`'s command line; the body is `cobstream.export.cmd_export_837`."""

from __future__ import annotations

import argparse

from cobstream.commands import deferred


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export",
        help="write what to send a payer: the secondary claim as an X12 837 (from a replay file or a running worker)",
        description="Write a document to send: `export 837` builds the 837P or 837I to send to a claim's secondary "
        "payer from the claim as it was billed (its 837) and the primary's adjudication (its open secondary claim).",
    )
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    x837 = formats.add_parser(
        "837",
        help="the 837 to send to a claim's secondary payer",
        description="Write the 837 of a claim's open secondary claim: the claim as its 837 billed it, sent to the "
        "secondary payer (2000B SBR01 S), with the primary in 2320/2330A/2330B and its adjudication of each line in "
        "2430 (docs/X12.md, 'The secondary 837'). The claim's submission must have come from an 837. Exit 0: "
        "written; 1: no such claim, or no 837 for it (the reason is given); 2: unusable input.",
    )
    x837.add_argument("claim_id", nargs="?", metavar="CLAIM_ID", help="the provider's claim id (CLM01)")
    x837.add_argument(
        "--all",
        action="store_true",
        help="with --replay and --out-dir: every claim with a pending secondary claim (open, its secondary's EOB "
        "not in), one CLAIM_ID.837 file each",
    )
    source = x837.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--replay",
        metavar="FILE",
        action="append",
        help="replay JSONL, or an X12 837/835 file, run through the engine in the order given (repeat for "
        "several); - for stdin",
    )
    source.add_argument("--worker", metavar="URL", help="a running worker's web server, e.g. http://127.0.0.1:6066")
    x837.add_argument("--out", metavar="FILE", help="write the 837 to FILE instead of standard output")
    x837.add_argument("--out-dir", metavar="DIR", help="with --all: the folder to write the files to")
    x837.set_defaults(run=deferred("cobstream.export:cmd_export_837"))

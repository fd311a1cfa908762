"""Argparse types shared by the command lines (`replay --now`, `explain --now`, `audit --since`,
`audit --jobs`)."""

from __future__ import annotations

import argparse
from datetime import datetime

from models.contract.types import parse_timestamp


def timestamp_argument(text: str) -> datetime:
    """An argparse type: an ISO 8601 datetime with a zone (`--now`, `--since`, `--until`)."""
    try:
        return parse_timestamp(text)
    except Exception:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 datetime with a zone") from None


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1 (`audit --jobs`)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return number

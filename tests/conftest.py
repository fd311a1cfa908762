"""Fixtures for the unit tests (builders.py has the event builders they import)."""

import pytest
from builders import Run


@pytest.fixture
def run() -> Run:
    return Run()

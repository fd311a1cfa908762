"""Fixtures and hooks for the integration tests live in harness.py (importable by the tests)."""

from harness import deployment, pytest_collection_modifyitems

__all__ = ["deployment", "pytest_collection_modifyitems"]

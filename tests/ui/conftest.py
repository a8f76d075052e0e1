"""Fixtures for the browser tests (defined in ui_support, which the tests also import)."""

from ui_support import browser, page, seeded

__all__ = ["browser", "page", "seeded"]

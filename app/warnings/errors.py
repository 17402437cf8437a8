"""Errors of the warnings service (the API answers 404 and 409)."""

from __future__ import annotations


class WarningNotFoundError(LookupError):
    """No warning with that id (or not visible to the caller)."""


class WarningConflictError(ValueError):
    """The action does not fit the warning's state (the API answers 409)."""

"""Errors the experimentation layer raises; the web layer maps each to one status."""

from __future__ import annotations


class SplitrecError(Exception):
    """Base of the errors a client caused; the message says what is wrong."""


class NotFound(SplitrecError):
    """An experiment, variant or other named thing does not exist."""


class Conflict(SplitrecError):
    """The request clashes with what is stored (a key taken, a frozen field)."""


class InvalidState(SplitrecError):
    """The thing exists but cannot do this now (start a stopped experiment)."""


class InvalidInput(SplitrecError):
    """The input is well-formed but its values break a rule."""

"""Durations written the way growth teams write them: '7d', '36h', '2w'."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_SECONDS = 3650 * 86_400
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as '7d'; raises ValueError with the rule."""
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(
            f"duration {text!r} must be a number and a unit s, m, h, d or w, e.g. '7d'"
        )
    seconds = round(float(match.group(1)) * _UNITS[match.group(2)])
    if not 1 <= seconds <= MAX_SECONDS:
        raise ValueError(f"duration {text!r} must be from 1 second to 3650 days")
    return seconds


def format_duration(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

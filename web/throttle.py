"""Failed sign-ins counted per email and per client address, so that a
password cannot be guessed at the speed of the server.

Counters live in the process: with several server processes each allows the
limit. TODO: keep them in Redis when REDIS_URL is set, to share one limit.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=15)
PER_EMAIL = 10
"""Failures for one email within the window before its sign-ins pause."""
PER_ADDRESS = 50
"""Failures from one client address within the window (many emails)."""
_MAX_KEYS = 100_000


class SignInThrottle:
    def __init__(self) -> None:
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def wait(self, *, email: str, address: str, now: datetime) -> timedelta | None:
        """How long until a sign-in may be tried again; None when it may now."""
        longest = None
        for key, limit in (
            (_email(email), PER_EMAIL),
            (_address(address), PER_ADDRESS),
        ):
            with self._lock:
                recent = self._recent(key, now)
                if len(recent) >= limit:
                    until = recent[0] + WINDOW - now
                    longest = until if longest is None else max(longest, until)
        return longest

    def failed(self, *, email: str, address: str, now: datetime) -> None:
        with self._lock:
            if len(self._failures) > _MAX_KEYS:  # addresses must not grow it forever
                self._failures.clear()
            for key in (_email(email), _address(address)):
                self._recent(key, now).append(now)

    def succeeded(self, *, email: str) -> None:
        with self._lock:
            self._failures.pop(_email(email), None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - WINDOW:
            times.popleft()
        return times


def _email(email: str) -> str:
    return "email:" + email.strip().lower()


def _address(address: str) -> str:
    return "address:" + address

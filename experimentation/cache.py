"""Cache of served recommendation lists, in Redis or in process.

Invalidation is O(1) per interaction: every key carries the user's version
number, and an interaction bumps the version, so all of the user's cached lists
(every page, experiment and variant) become unreachable at once and expire by
TTL. Redis DEL takes exact keys, not patterns, and SCAN on a hot path would not
scale, hence the version.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

import redis

log = logging.getLogger(__name__)


class RecommendationCache(Protocol):
    """Served lists per user and scope: {"items": [...], "quality": {...}}."""

    def get(self, user_id: str, scope: str) -> dict[str, Any] | None: ...

    def put(self, user_id: str, scope: str, entry: dict[str, Any]) -> None: ...

    def invalidate_user(self, user_id: str) -> None: ...


class MemoryCache:
    """The embedded default: same behaviour as Redis, bounded in size."""

    def __init__(self, ttl_seconds: int, max_entries: int = 200_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()

    def _key(self, user_id: str, scope: str) -> str:
        return f"{user_id}\x1f{self._versions.get(user_id, 0)}\x1f{scope}"

    def get(self, user_id: str, scope: str) -> dict[str, Any] | None:
        with self._lock:
            key = self._key(user_id, scope)
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, user_id: str, scope: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries[self._key(user_id, scope)] = (
                time.monotonic() + self.ttl,
                entry,
            )
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate_user(self, user_id: str) -> None:
        with self._lock:
            self._versions[user_id] = self._versions.get(user_id, 0) + 1


class RedisCache:
    """Redis-backed; if Redis is down or slow, behaves as a cache that never hits."""

    def __init__(
        self,
        url: str,
        ttl_seconds: int,
        timeout_seconds: float,
        prefix: str = "splitrec",
    ) -> None:
        self.ttl = ttl_seconds
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self._last_warning = 0.0

    def _version_key(self, user_id: str) -> str:
        return f"{self.prefix}:uv:{user_id}"

    def get(self, user_id: str, scope: str) -> dict[str, Any] | None:
        try:
            version = self.client.get(self._version_key(user_id))
            key = f"{self.prefix}:recs:{user_id}:{int(version or 0)}:{scope}"
            raw = self.client.get(key)
        except redis.RedisError as error:
            self._warn(error)
            return None
        return None if raw is None else dict(json.loads(raw))

    def put(self, user_id: str, scope: str, entry: dict[str, Any]) -> None:
        try:
            version = self.client.get(self._version_key(user_id))
            key = f"{self.prefix}:recs:{user_id}:{int(version or 0)}:{scope}"
            self.client.set(key, json.dumps(entry), ex=self.ttl)
        except redis.RedisError as error:
            self._warn(error)

    def invalidate_user(self, user_id: str) -> None:
        try:
            # The version may expire once every list cached under it has
            # (2 x TTL): a reset to 0 cannot revive a list that old.
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(self._version_key(user_id))
            pipe.expire(self._version_key(user_id), 2 * self.ttl)
            pipe.execute()
        except redis.RedisError as error:
            # FIXME: an invalidation lost while Redis is down can leave a stale
            # list for up to the TTL once Redis is back; issue 5 covers it.
            self._warn(error)

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 30:
            self._last_warning = now
            log.warning(
                "redis unavailable, serving uncached", extra={"error": str(error)}
            )


def make_cache(
    redis_url: str | None,
    ttl_seconds: int,
    timeout_seconds: float,
    prefix: str = "splitrec",
) -> RecommendationCache:
    if redis_url:
        return RedisCache(redis_url, ttl_seconds, timeout_seconds, prefix=prefix)
    return MemoryCache(ttl_seconds)

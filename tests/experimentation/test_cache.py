from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from experimentation.cache import MemoryCache, RecommendationCache, RedisCache
from tests.conftest import REDIS_URL

ENTRY = {"items": [{"item_id": "a", "score": 1.0, "position": 1}], "quality": None}


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[RecommendationCache]:
    if request.param == "memory":
        yield MemoryCache(ttl_seconds=1)
        return
    redis_cache = RedisCache(
        REDIS_URL, ttl_seconds=1, timeout_seconds=0.5, prefix=f"t{uuid.uuid4().hex}"
    )
    redis_cache.client.ping()
    yield redis_cache
    for key in redis_cache.client.scan_iter(f"{redis_cache.prefix}:*"):
        redis_cache.client.delete(key)
    redis_cache.client.close()


def test_cache_hit_after_put(cache: RecommendationCache) -> None:
    assert cache.get("u1", "exp:control:home:10") is None
    cache.put("u1", "exp:control:home:10", ENTRY)
    assert cache.get("u1", "exp:control:home:10") == ENTRY
    assert cache.get("u1", "exp:control:home:5") is None
    assert cache.get("u2", "exp:control:home:10") is None


def test_cache_invalidate_user_drops_every_scope_of_that_user_only(
    cache: RecommendationCache,
) -> None:
    for scope in ("a:control:home:10", "a:control:cart:10", "b:treatment:home:5"):
        cache.put("u1", scope, ENTRY)
    cache.put("u2", "a:control:home:10", ENTRY)
    cache.invalidate_user("u1")
    for scope in ("a:control:home:10", "a:control:cart:10", "b:treatment:home:5"):
        assert cache.get("u1", scope) is None
    assert cache.get("u2", "a:control:home:10") == ENTRY
    cache.put("u1", "a:control:home:10", ENTRY)
    assert cache.get("u1", "a:control:home:10") == ENTRY


def test_cache_entry_expires_after_ttl(cache: RecommendationCache) -> None:
    cache.put("u1", "s", ENTRY)
    time.sleep(1.1)
    assert cache.get("u1", "s") is None


def test_redis_cache_down_serves_uncached_without_raising() -> None:
    """Guards against a Redis outage turning into 5xx responses."""
    cache = RedisCache("redis://127.0.0.1:1/0", ttl_seconds=60, timeout_seconds=0.05)
    cache.put("u1", "s", ENTRY)
    assert cache.get("u1", "s") is None
    cache.invalidate_user("u1")


def test_memory_cache_bounded() -> None:
    cache = MemoryCache(ttl_seconds=60, max_entries=3)
    for n in range(5):
        cache.put(f"u{n}", "s", ENTRY)
    assert [cache.get(f"u{n}", "s") is not None for n in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]

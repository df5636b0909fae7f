"""Per-request latency of recommend() on MovieLens 100K, in process.

One request = score the whole catalogue for one user's history, exclude what
they have, take the top 10. Prints p50/p95/p99 in milliseconds for popularity,
content and the hybrid (target p99 <= 1 ms), and a per-item Python loop (cosine
per item, the way not to do it) against the vectorised content scorer.

    .venv/bin/python bench/recommend_latency.py [--data PATH] [--passes 3]
"""

from __future__ import annotations

import os

# One BLAS thread, as a serving worker runs (see bench/recommend_scale.py).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from experimentation.movielens import load  # noqa: E402
from recommenders.base import Recommender, top_k  # noqa: E402
from recommenders.cli import default_data_path  # noqa: E402
from recommenders.content import Content  # noqa: E402
from recommenders.data import UserHistory  # noqa: E402
from recommenders.evaluation import prepare  # noqa: E402
from recommenders.registry import PRESETS, build  # noqa: E402

K = 10


def percentiles(milliseconds: list[float]) -> str:
    p50, p95, p99 = np.percentile(milliseconds, [50, 95, 99])
    return f"p50 {p50:7.3f}  p95 {p95:7.3f}  p99 {p99:7.3f} ms"


def timed(
    call: Callable[[UserHistory], object], users: list[UserHistory], passes: int
) -> list[float]:
    for user in users[:20]:  # warm caches and lazy imports
        call(user)
    times = []
    for _ in range(passes):
        for user in users:
            start = time.perf_counter()
            call(user)
            times.append((time.perf_counter() - start) * 1000.0)
    return times


def loop_cosine(
    model: Content, rows: list[list[float]], norms: list[float]
) -> Callable[[UserHistory], object]:
    """Cosine of the profile with each item in a Python loop, then the top 10."""

    def recommend(history: UserHistory) -> object:
        parts = model.profile(history)
        if parts is None:
            return None
        p = np.concatenate(parts).tolist()
        p_norm = math.sqrt(sum(x * x for x in p))
        seen = set(history.item_index.tolist())
        scores = []
        for item, row in enumerate(rows):
            if item in seen:
                continue
            dot = sum(a * b for a, b in zip(p, row, strict=True))
            scores.append((-dot / (p_norm * norms[item]), item))
        return sorted(scores)[:K]

    return recommend


def full_vectors(model: Content) -> np.ndarray:
    """Every item's whole content vector (dense blocks, then one-hot), float64."""
    dense = model._dense
    one_hot = model._sparse
    assert dense is not None and one_hot is not None
    return np.hstack([dense, one_hot.toarray()]).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--loop-users", type=int, default=100)
    args = parser.parse_args()
    data = prepare(load(args.data or default_data_path()), "test")
    users = data.histories
    print(f"ML100K test split: {len(users)} users x {len(data.catalog)} items, top {K}")
    models: dict[str, Recommender] = {}
    specs = {name: (name, {}) for name in ("popularity", "content", "collaborative")}
    specs |= {"hybrid": ("hybrid", {}), "hybrid_knn_als": PRESETS["hybrid_knn_als"]}
    for name, (type_, params) in specs.items():
        models[name] = build(type_, params).fit(data.catalog, data.train)
        times = timed(lambda u, m=models[name]: m.recommend(u, K), users, args.passes)
        print(f"{name:<14} {percentiles(times)}")

    content = models["content"]
    assert isinstance(content, Content)
    dense = full_vectors(content)
    rows = dense.tolist()
    norms = [math.sqrt(sum(x * x for x in row)) or 1.0 for row in rows]
    subset = users[: args.loop_users]

    def vectorised(history: UserHistory) -> object:
        parts = content.profile(history)
        assert parts is not None
        scores = dense @ np.concatenate(parts) / np.asarray(norms)
        return top_k(scores, history.item_index, K)

    slow = timed(loop_cosine(content, rows, norms), subset, 1)
    fast_dense = timed(vectorised, subset, args.passes)
    fast_sparse = timed(lambda u: content.recommend(u, K), subset, args.passes)
    print(f"\ncosine per item, {dense.shape[1]}-dim vectors, {len(subset)} users:")
    print(f"{'python loop':<22} {percentiles(slow)}")
    print(f"{'numpy dense matvec':<22} {percentiles(fast_dense)}")
    print(f"{'Content.recommend':<22} {percentiles(fast_sparse)}")
    for name, fast in (("dense matvec", fast_dense), ("Content", fast_sparse)):
        print(f"speed-up at p50, {name}: {np.median(slow) / np.median(fast):.0f}x")


if __name__ == "__main__":
    main()

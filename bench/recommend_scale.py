"""Recommenders at scale: a synthetic shop of 100,000 items, 1,000,000 users and
50,000,000 interactions, generated in memory with numpy (no database).

Item popularity is long-tailed (Zipf-like, 1 / (rank + 10)); user activity is
log-normal (median a few dozen events, a heavy tail of a few thousand). Each
item has one of 200 categories and each user a favourite one, from which about
60% of their events are drawn, so that neighbours and content have something to
find. Prints, for every model: build time, peak RSS so far, and p50/p95/p99 of
one recommendation (score the catalogue, exclude what the user has, top 10);
then the per-item Python cosine loop against the vectorised content scorer on a
few users, and the speed-up.

    .venv/bin/python bench/recommend_scale.py            # full size, a few minutes
    .venv/bin/python bench/recommend_scale.py --items 10000 --users 100000 \\
        --events 5000000                                  # a quick look
"""

from __future__ import annotations

import os

# One BLAS thread per process, as a serving worker should run: on 2 busy cores
# threaded matrix-vector products spend more time waiting than computing.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from recommenders.base import Recommender, top_k  # noqa: E402
from recommenders.content import Content  # noqa: E402
from recommenders.data import Catalog, InteractionLog, UserHistory  # noqa: E402
from recommenders.registry import build  # noqa: E402

K = 10
N_CATEGORIES = 200
IN_CATEGORY_SHARE = 0.6
_CHUNK = 5_000_000
_WORDS = 5_000


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def synthetic_catalog(
    n_items: int, rng: np.random.Generator
) -> tuple[Catalog, np.ndarray]:
    """The catalogue and each item's category index."""
    category = rng.integers(N_CATEGORIES, size=n_items)
    # Words drawn around the category, so that text agrees with categories.
    words = (category[:, None] * 25 + rng.integers(0, 60, (n_items, 4))) % _WORDS
    titles = [
        f"item {i} " + " ".join(f"w{w}" for w in row) for i, row in enumerate(words)
    ]
    published = 1.6e9 + rng.uniform(0, 3 * 365 * 86_400, n_items)
    catalog = Catalog(
        item_ids=[f"i{i}" for i in range(n_items)],
        titles=titles,
        descriptions=[""] * n_items,
        categories=[[f"c{c}"] for c in category.tolist()],
        brands=[f"b{b}" for b in rng.integers(0, 200, n_items).tolist()],
        prices=rng.lognormal(3.0, 1.0, n_items),
        ratings=np.full(n_items, np.nan),
        published=published,
    )
    return catalog, category


def synthetic_log(
    n_users: int,
    n_events: int,
    category: np.ndarray,
    rng: np.random.Generator,
) -> InteractionLog:
    """Events grouped by user, items drawn from a Zipf-like popularity."""
    n_items = category.shape[0]
    popularity = 1.0 / (rng.permutation(n_items) + 10.0)
    # Items sorted by category: one cumulative popularity serves both global
    # draws and draws within a category (a sub-range of it).
    order = np.argsort(category, kind="stable")
    cumulative = np.cumsum(popularity[order])
    total = cumulative[-1]
    ends = cumulative[
        np.searchsorted(category[order], np.arange(N_CATEGORIES), "right") - 1
    ]
    starts = np.concatenate([[0.0], ends[:-1]])

    activity = rng.lognormal(mean=3.4, sigma=1.1, size=n_users)
    counts = np.floor(activity * (n_events / activity.sum())).astype(np.int64)
    counts = np.maximum(counts, 1)
    surplus = int(counts.sum()) - n_events
    if surplus > 0:  # take it from the heaviest users
        heavy = np.argsort(counts)[-surplus:]
        counts[heavy] -= 1
    elif surplus < 0:
        counts += np.bincount(rng.integers(n_users, size=-surplus), minlength=n_users)
    user_index = np.repeat(np.arange(n_users, dtype=np.int32), counts)
    favourite = rng.integers(N_CATEGORIES, size=n_users)

    item_index = np.empty(n_events, dtype=np.int32)
    for start in range(0, n_events, _CHUNK):
        users = user_index[start : start + _CHUNK]
        u = rng.random(users.size)
        local = rng.random(users.size) < IN_CATEGORY_SHARE
        c = favourite[users]
        target = np.where(local, starts[c] + u * (ends[c] - starts[c]), u * total)
        position = np.minimum(np.searchsorted(cumulative, target, "right"), n_items - 1)
        item_index[start : start + _CHUNK] = order[position]
    weight = rng.choice(
        np.array([1.0, 1.5, 3.0], dtype=np.float32), size=n_events, p=[0.7, 0.25, 0.05]
    )
    return InteractionLog(
        user_ids=[f"u{u}" for u in range(n_users)],
        user_index=user_index,
        item_index=item_index,
        weight=weight,
        rating=np.full(n_events, np.nan, dtype=np.float32),
        timestamp=1.7e9 + rng.uniform(0, 365 * 86_400, n_events),
        n_items=n_items,
    )


def histories(
    log: InteractionLog, n: int, rng: np.random.Generator
) -> list[UserHistory]:
    """Live histories of n random users, from their events in the log."""
    bounds = np.searchsorted(log.user_index, np.arange(len(log.user_ids) + 1))
    chosen = rng.choice(len(log.user_ids), size=n, replace=False)
    users = []
    for position in chosen.tolist():
        rows = slice(bounds[position], bounds[position + 1])
        items, inverse = np.unique(log.item_index[rows], return_inverse=True)
        weights = np.bincount(inverse, weights=log.weight[rows])
        users.append(
            UserHistory(
                item_index=items.astype(np.int64),
                weight=weights.astype(np.float32),
                user_position=position,
            )
        )
    return users


def latency(
    call: Callable[[UserHistory], object],
    users: list[UserHistory],
    seconds: float,
    warm: int = 10,
) -> np.ndarray:
    """Milliseconds per call over the users, stopping after `seconds`."""
    for user in users[:warm]:
        call(user)
    times, cpu = [], []
    deadline = time.perf_counter() + seconds
    for user in users:
        start, start_cpu = time.perf_counter(), time.thread_time()
        call(user)
        end = time.perf_counter()
        cpu.append((time.thread_time() - start_cpu) * 1000.0)
        times.append((end - start) * 1000.0)
        if end > deadline:
            break
    return np.array(times), np.array(cpu)


def line(name: str, measured: tuple[np.ndarray, np.ndarray]) -> str:
    """Wall-clock percentiles, then the thread's CPU time (which leaves out
    waiting for a core when other processes load the machine)."""
    times, cpu = measured
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    c50, c99 = np.percentile(cpu, [50, 99])
    return (
        f"{name:<26} n={times.size:<5d} p50 {p50:7.3f}  p95 {p95:7.3f}  "
        f"p99 {p99:7.3f} ms | cpu p50 {c50:6.3f} p99 {c99:7.3f}"
    )


def loop_cosine(
    dense: np.ndarray, norms: np.ndarray, model: Content
) -> Callable[[UserHistory], object]:
    """Cosine of the profile with each item in plain Python, then the top 10."""
    rows = dense.tolist()
    norm_list = norms.tolist()

    def recommend(history: UserHistory) -> object:
        parts = model.profile(history)
        if parts is None:
            return None
        profile = np.concatenate(parts).tolist()
        length = math.sqrt(sum(x * x for x in profile))
        seen = set(history.item_index.tolist())
        scores = []
        for item, row in enumerate(rows):
            if item in seen:
                continue
            dot = sum(a * b for a, b in zip(profile, row, strict=True))
            scores.append((-dot / (length * norm_list[item]), item))
        return sorted(scores)[:K]

    return recommend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="per model")
    parser.add_argument("--loop-users", type=int, default=3)
    parser.add_argument("--max-item-users", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    started = time.perf_counter()
    catalog, category = synthetic_catalog(args.items, rng)
    log = synthetic_log(args.users, args.events, category, rng)
    positives = np.bincount(log.item_index, minlength=args.items)
    top_share = np.sort(positives)[::-1][: args.items // 100].sum() / len(log)
    print(
        f"generated {args.items:,} items, {args.users:,} users, {len(log):,} events "
        f"in {time.perf_counter() - started:.1f} s; top 1% of items hold "
        f"{top_share:.0%} of events; peak RSS {peak_rss_gb():.2f} GB"
    )
    started = time.perf_counter()
    matrix = log.weights_matrix
    print(
        f"users x items matrix: {matrix.nnz:,} non-zeros in "
        f"{time.perf_counter() - started:.1f} s; peak RSS {peak_rss_gb():.2f} GB"
    )
    users = histories(log, args.requests, rng)
    sizes = np.array([u.item_index.size for u in users])
    print(
        f"{len(users)} request users: history size p50 {np.median(sizes):.0f}, "
        f"p99 {np.percentile(sizes, 99):.0f}, max {sizes.max()}\n"
    )

    specs: dict[str, tuple[str, dict[str, object]]] = {
        "popularity": ("popularity", {}),
        "content": ("content", {}),
        "collaborative (user-kNN)": (
            "collaborative",
            {"max_item_users": args.max_item_users},
        ),
        "ALS (conjugate gradient)": ("als", {"solver": "conjugate_gradient"}),
        "hybrid (alpha 0.7)": (
            "hybrid",
            {"collaborative": {"max_item_users": args.max_item_users}},
        ),
    }
    models: dict[str, Recommender] = {}
    for name, (type_, params) in specs.items():
        started = time.perf_counter()
        model = build(type_, params).fit(catalog, log)
        built = time.perf_counter() - started
        models[name] = model
        times = latency(lambda u, m=model: m.recommend(u, K), users, args.seconds)
        print(
            f"{line(name, times)}   build {built:6.1f} s  "
            f"peak RSS {peak_rss_gb():.2f} GB"
        )

    content = models["content"]
    assert isinstance(content, Content)
    dense_part, one_hot = content._dense, content._sparse
    assert dense_part is not None and one_hot is not None
    # The loop needs every item's whole vector as a Python list: a dense copy.
    dense = np.hstack([dense_part, one_hot.toarray()]).astype(np.float64)
    norms = np.linalg.norm(dense, axis=1)
    norms[norms == 0] = 1.0
    few = users[: args.loop_users]
    slow = latency(loop_cosine(dense, norms, content), few, 1e9, warm=0)
    fast = latency(lambda u: content.recommend(u, K), users, args.seconds)

    def matvec(history: UserHistory) -> object:
        parts = content.profile(history)
        assert parts is not None
        return top_k(dense @ np.concatenate(parts) / norms, history.item_index, K)

    dense_times = latency(matvec, users, args.seconds)
    print(
        f"\ncosine per item over {dense.shape[0]:,} items x {dense.shape[1]} dims, "
        f"{len(few)} users:"
    )
    print(line("python loop", slow))
    print(line("numpy dense matvec", dense_times))
    print(line("Content.recommend", fast))
    print(
        f"speed-up at p50: {np.median(slow[0]) / np.median(fast[0]):,.0f}x "
        f"(Content), {np.median(slow[0]) / np.median(dense_times[0]):,.0f}x "
        "(dense matvec)"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\npeak RSS {peak_rss_gb():.2f} GB; "
        f"load average {load} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()

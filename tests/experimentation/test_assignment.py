from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from experimentation.assignment import assign, bucket, choose


def test_bucket_is_stable_across_processes() -> None:
    """Guards against a hash salted per process, such as the built-in hash()."""
    code = (
        "from experimentation.assignment import bucket;"
        "print(repr(bucket('s', 'exp', 'user-42')))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed)},
        ).stdout.strip()
        for seed in (1, 2)
    }
    assert outputs == {repr(bucket("s", "exp", "user-42"))}


def test_bucket_known_value() -> None:
    # SHA-256("salt:exp:1"), first 8 bytes as a big-endian integer over 2**64;
    # written down so that a change of the documented scheme fails loudly.
    import hashlib

    digest = hashlib.sha256(b"salt:exp:1").digest()
    expected = int.from_bytes(digest[:8], "big") / 2**64
    assert bucket("salt", "exp", "1") == expected
    assert 0.0 <= expected < 1.0


def test_choose_respects_boundaries() -> None:
    assert choose([1, 1], 0.0) == 0
    assert choose([1, 1], 0.4999) == 0
    assert choose([1, 1], 0.5) == 1
    assert choose([1, 1], 0.999999) == 1
    assert choose([90, 10], 0.89) == 0
    assert choose([90, 10], 0.91) == 1
    assert choose([0, 1], 0.0) == 1


@pytest.mark.parametrize("weights", [[], [-1, 2], [0, 0]])
def test_choose_rejects_bad_weights(weights: list[float]) -> None:
    with pytest.raises(ValueError):
        choose(weights, 0.5)


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.9, 0.1], [1, 1, 1]])
def test_assign_uniform_over_sequential_ids(weights: list[float]) -> None:
    n = 100_000
    counts = np.bincount(
        [assign("salt-1", "rec-algorithm-v2", str(i), weights) for i in range(n)],
        minlength=len(weights),
    )
    expected = np.asarray(weights) / sum(weights) * n
    _, p_value = stats.chisquare(counts, expected)
    assert p_value > 0.001, (counts, expected)


def test_assign_differs_between_experiments() -> None:
    """Two experiments with other keys must not split users the same way."""
    same = sum(
        assign("s", "exp-a", str(i), [1, 1]) == assign("s", "exp-b", str(i), [1, 1])
        for i in range(10_000)
    )
    assert 4_700 < same < 5_300


def test_enrolled_share_and_monotone_ramp() -> None:
    """Ramping up keeps everyone already enrolled."""
    from experimentation.assignment import enrolled

    users = [str(i) for i in range(20_000)]
    at_10 = {u for u in users if enrolled("s", "exp", u, 0.1)}
    at_50 = {u for u in users if enrolled("s", "exp", u, 0.5)}
    assert 1_850 < len(at_10) < 2_150
    assert 9_750 < len(at_50) < 10_250
    assert at_10 <= at_50
    assert all(enrolled("s", "exp", u, 1.0) for u in users[:100])

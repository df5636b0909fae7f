"""Deterministic assignment of users to variants.

The bucket of a user is a pure function of (salt, experiment key, user id):

    digest = SHA-256(f"{salt}:{experiment_key}:{user_id}" encoded as UTF-8)
    bucket = int.from_bytes(digest[:8], "big") / 2**64        # in [0, 1)

and the variant is the first one whose cumulative weight share exceeds the
bucket. SHA-256 gives the same answer on every process, machine and Python
version, which the built-in hash() does not (it is salted per process).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

_TWO_64 = float(2**64)


def bucket(salt: str, experiment_key: str, user_id: str) -> float:
    """The user's position in [0, 1) for this experiment."""
    digest = hashlib.sha256(f"{salt}:{experiment_key}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _TWO_64


def choose(weights: Sequence[float], position: float) -> int:
    """Index of the variant whose share of [0, 1) holds position."""
    if not weights or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative and not empty")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("weights must not all be zero")
    bounds = [edge / total for edge in accumulate(weights)]
    index = bisect_right(bounds, position)
    # Floating point can leave the last bound a hair under 1.0.
    return min(index, len(weights) - 1)


def enrolled(salt: str, experiment_key: str, user_id: str, traffic: float) -> bool:
    """Whether the user is in the experiment's ramped share of traffic.

    A hash independent of the variant bucket (the salt gets ":traffic"), so
    ramping up keeps everyone already enrolled, in the same variant.
    """
    return bucket(f"{salt}:traffic", experiment_key, user_id) < traffic


def assign(
    salt: str, experiment_key: str, user_id: str, weights: Sequence[float]
) -> int:
    """Index of the variant this user sees in this experiment, always the same."""
    return choose(weights, bucket(salt, experiment_key, user_id))

"""How the demo's simulated app traffic behaves. Users act on the real data only;
no lift is built in.

- Population: the 943 MovieLens users, then resampled users (ids "sim-NNNNN")
  until the experiment's sample size is reached, each a copy of a real user
  drawn at random (seeded): same attributes, same rating history.
- History: each user's first 80% of ratings (per-user temporal split) is the
  imported history; the last 20% is what they "will" watch, held out.
- Time: the experiment runs over its minimum duration in simulated time. Each
  user arrives at a uniformly random moment of its first 60% and has up to
  MAX_SESSIONS sessions, a day apart on average (exponential gaps), ending
  within the window.
- A session: session_start; the app asks for 10 recommendations (page
  "home") and sends an impression for each; for every recommended item the
  user really rated later (held out), a click, then a view with dwell
  20 s x stars + uniform(0, 30) s, and, when they rated it 4 or 5, a purchase
  at the item's price. Then the user watches up to WATCH_PER_SESSION of their
  remaining held-out movies found elsewhere (views, no purchase). session_end
  carries the session length: 30 s + 5 s per impression + the dwell times.
- Prices: 2.99 for films from before 1990, 3.99 for 1990 to 1996, 4.99 for
  1997 and 1998 (newer films cost more, as in rental shops).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

MAX_SESSIONS = 3
WATCH_PER_SESSION = 2
K = 10


def price_of(year: int | None) -> float:
    if year is None or year < 1990:
        return 2.99
    return 3.99 if year <= 1996 else 4.99


@dataclass
class SimUser:
    user_id: str
    source: str
    """The real MovieLens user whose history this user has."""
    future: dict[str, int]
    """Held-out items (id -> stars), in the order the real user rated them."""
    sessions: list[datetime] = field(default_factory=list)


def plan_sessions(
    users: list[SimUser], start: datetime, duration: timedelta, rng: np.random.Generator
) -> list[tuple[datetime, SimUser]]:
    """Every session of every user, in time order."""
    span = duration.total_seconds()
    plan: list[tuple[datetime, SimUser]] = []
    for user in users:
        at = rng.uniform(0, 0.6 * span)
        for _ in range(MAX_SESSIONS):
            if at >= span:
                break
            user.sessions.append(start + timedelta(seconds=float(at)))
            at += rng.exponential(86_400.0)
        plan.extend((moment, user) for moment in user.sessions)
    plan.sort(key=lambda pair: (pair[0], pair[1].user_id))
    return plan


def dwell_seconds(stars: int, rng: np.random.Generator) -> float:
    return round(20.0 * stars + rng.uniform(0, 30), 1)

"""How far an experiment is towards its sample size and minimum duration."""

from __future__ import annotations

import math
from dataclasses import dataclass

DAY = 86_400


@dataclass(frozen=True)
class Progress:
    users: int
    sample_size: int
    elapsed_seconds: float
    minimum_seconds: int
    started: bool

    @property
    def sample_met(self) -> bool:
        return self.users >= self.sample_size

    @property
    def duration_met(self) -> bool:
        return self.started and self.elapsed_seconds >= self.minimum_seconds

    @property
    def is_final(self) -> bool:
        return self.sample_met and self.duration_met

    @property
    def day(self) -> int:
        """The day the experiment is in, counting the first as day 1."""
        return int(self.elapsed_seconds // DAY) + 1 if self.started else 0

    @property
    def days_required(self) -> int:
        return max(1, math.ceil(self.minimum_seconds / DAY))

    def describe(self) -> str:
        if not self.started:
            return "not started: no exposures are counted before the start"
        if self.is_final:
            return (
                f"final: {self.users:,} users (target {self.sample_size:,}), "
                f"{self.elapsed_seconds / DAY:.1f} days (minimum {self.days_required})"
            )
        return (
            f"not yet: {self.users:,} of {self.sample_size:,} users, "
            f"day {self.day} of {self.days_required}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "users": self.users,
            "sample_size": self.sample_size,
            "sample_met": self.sample_met,
            "elapsed_days": round(self.elapsed_seconds / DAY, 3),
            "day": self.day,
            "minimum_days": self.days_required,
            "duration_met": self.duration_met,
            "final": self.is_final,
            "summary": self.describe(),
        }

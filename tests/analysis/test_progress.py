from __future__ import annotations

from analysis.progress import DAY, Progress


def _progress(users: int, days: float, started: bool = True) -> Progress:
    return Progress(
        users=users,
        sample_size=10_000,
        elapsed_seconds=days * DAY,
        minimum_seconds=7 * DAY,
        started=started,
    )


def test_progress_interim_says_how_far() -> None:
    progress = _progress(4_210, 2.5)
    assert progress.describe() == "not yet: 4,210 of 10,000 users, day 3 of 7"
    assert not progress.is_final


def test_progress_needs_both_sample_and_duration() -> None:
    assert not _progress(12_000, 6.9).is_final
    assert not _progress(9_999, 8).is_final
    assert _progress(10_000, 7).is_final
    assert _progress(10_000, 7).describe().startswith("final: 10,000 users")


def test_progress_not_started() -> None:
    progress = _progress(0, 0, started=False)
    assert progress.day == 0
    assert not progress.duration_met
    assert progress.describe().startswith("not started")

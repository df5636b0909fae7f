"""Statistics for splitrec experiments: functions from per-arm counts to results."""

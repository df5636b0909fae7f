"""Experiments, assignment, exposure and outcome logging."""

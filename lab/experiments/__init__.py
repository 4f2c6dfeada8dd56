"""Experiment workflow: comparing runs, per-query differences, score explanations, tuning, history
and the HTML report."""

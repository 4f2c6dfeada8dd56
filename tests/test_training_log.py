"""Training progress as plain lines, for logs and output that is not a terminal: one at the start, one per
logged loss or evaluation, one at least every LOG_EVERY_SECONDS otherwise, with the time left worked out from
the steps done since the start (or the resume)."""

from __future__ import annotations

import io

import pytest

from lab.finetune import monitor


@pytest.fixture()
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(monitor.time, "monotonic", lambda: now[0])
    return now


def body(line: str) -> str:
    return line.split(" ", 1)[1]  # without the wall-clock time


def test_lines_for_losses_evaluations_and_quiet_stretches(clock):
    out = io.StringIO()
    log = monitor.LineLog(out, "training ft", "val nDCG@10", every=30)
    log.start(total_steps=100, done_steps=20)  # a resume at step 20
    clock[0] += 10
    log.update(25, None, None)  # 10 s after the last line: quiet
    clock[0] += 10
    log.update(30, 0.5, None)  # 10 steps in 20 s: 70 steps left → 140 s
    clock[0] += 31
    log.update(40, None, None)  # 31 s quiet: a line; 20 steps in 51 s → 60 steps → 153 s
    log.update(40, None, 0.41234)
    lines = [body(line) for line in out.getvalue().splitlines()]
    assert lines == ["training ft: 100 steps, resuming at step 20",
                     "step 30/100 · elapsed 0:20 · remaining 2:20 · loss 0.5000",
                     "step 40/100 · elapsed 0:51 · remaining 2:33",
                     "step 40/100 · elapsed 0:51 · remaining 2:33 · val nDCG@10 0.4123"]


def test_the_time_left_is_unknown_before_the_first_step(clock):
    out = io.StringIO()
    log = monitor.LineLog(out, every=30)
    log.start(total_steps=10, done_steps=0)
    log.update(0, 1.25, None)
    assert body(out.getvalue().splitlines()[1]) == "step 0/10 · elapsed 0:00 · remaining ? · loss 1.2500"

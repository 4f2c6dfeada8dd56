"""Training progress: a trainer callback feeding a display (a rich bar with loss and val nDCG@10)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Protocol, TextIO

from transformers import TrainerCallback

from .validation import PRIMARY_METRIC


class TrainingDisplay(Protocol):
    """What a progress display is told during training."""

    def start(self, total_steps: int, done_steps: int) -> None: ...

    def update(self, step: int, loss: float | None, metric: float | None) -> None: ...

    def stop(self) -> None: ...


class RichTrainingBar:
    """A terminal progress bar: steps, elapsed/remaining time, last loss, last validation metric."""

    def __init__(self, description: str = "Fine-tuning", metric_label: str = "val nDCG@10", console: Any = None):
        self.description = description
        self.metric_label = metric_label
        self.console = console
        self._progress: Any = None
        self._task: Any = None

    def start(self, total_steps: int, done_steps: int) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(),
                                  TextColumn("loss {task.fields[loss]}"),
                                  TextColumn(f"{self.metric_label} {{task.fields[metric]}}"), console=self.console)
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total_steps, completed=done_steps,
                                             loss="-", metric="-")

    def update(self, step: int, loss: float | None, metric: float | None) -> None:
        if self._progress is None:
            return
        fields: dict[str, Any] = {"completed": step}
        if loss is not None:
            fields["loss"] = f"{loss:.4f}"
        if metric is not None:
            fields["metric"] = f"{metric:.4f}"
        self._progress.update(self._task, **fields)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


LOG_EVERY_SECONDS = 30.0
"""A plain log line at least this often, besides one per logged loss or evaluation."""


class LineLog:
    """Training progress as plain lines (for a log file, or output that is not a terminal): time, step of total,
    elapsed and remaining time, and the loss and validation metric whenever they are logged."""

    def __init__(self, stream: TextIO, description: str = "Fine-tuning", metric_label: str = "val nDCG@10",
                 every: float = LOG_EVERY_SECONDS):
        self.stream, self.description, self.metric_label, self.every = stream, description, metric_label, every
        self._total = self._first = 0
        self._started = self._last = 0.0

    def start(self, total_steps: int, done_steps: int) -> None:
        self._total, self._first = total_steps, done_steps
        self._started = self._last = time.monotonic()
        resumed = f", resuming at step {done_steps}" if done_steps else ""
        self._write(f"{self.description}: {total_steps} steps{resumed}")

    def update(self, step: int, loss: float | None, metric: float | None) -> None:
        now = time.monotonic()
        if loss is None and metric is None and now - self._last < self.every:
            return
        self._last = now
        elapsed = now - self._started
        done = step - self._first
        remaining = elapsed / done * (self._total - step) if done > 0 else None
        parts = [f"step {step}/{self._total}", f"elapsed {_clock(elapsed)}",
                 f"remaining {_clock(remaining) if remaining is not None else '?'}"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if metric is not None:
            parts.append(f"{self.metric_label} {metric:.4f}")
        self._write(" · ".join(parts))

    def stop(self) -> None:
        self.stream.flush()

    def _write(self, text: str) -> None:
        self.stream.write(f"{datetime.now():%H:%M:%S} {text}\n")
        self.stream.flush()


class Displays:
    """Several displays told the same (a terminal bar and the log file, say)."""

    def __init__(self, *displays: TrainingDisplay):
        self.displays = displays

    def start(self, total_steps: int, done_steps: int) -> None:
        for display in self.displays:
            display.start(total_steps, done_steps)

    def update(self, step: int, loss: float | None, metric: float | None) -> None:
        for display in self.displays:
            display.update(step, loss, metric)

    def stop(self) -> None:
        for display in self.displays:
            display.stop()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class DisplayCallback(TrainerCallback):
    """Forwards the trainer's steps, logged loss and evaluations to a :class:`TrainingDisplay`."""

    def __init__(self, display: TrainingDisplay, metric: str = PRIMARY_METRIC):
        self.display = display
        self.metric = metric

    def on_train_begin(self, args, state, control, **kwargs):
        self.display.start(state.max_steps, state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        self.display.update(state.global_step, None, None)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        self.display.update(state.global_step, logs.get("loss"), logs.get(self.metric))

    def on_train_end(self, args, state, control, **kwargs):
        self.display.stop()


class FinalEvaluationCallback(TrainerCallback):
    """Evaluate and checkpoint at the last step too, so the best-model choice sees the end of training."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_evaluate = True
            control.should_save = True
        return control

"""Training progress: a trainer callback feeding a display (a rich bar with loss and val nDCG@10)."""

from __future__ import annotations

from typing import Any, Protocol

from transformers import TrainerCallback

from .validation import PRIMARY_METRIC


class TrainingDisplay(Protocol):
    """What a progress display is told during training."""

    def start(self, total_steps: int, done_steps: int) -> None: ...

    def update(self, step: int, loss: float | None, metric: float | None) -> None: ...

    def stop(self) -> None: ...


class RichTrainingBar:
    """A terminal progress bar: steps, elapsed/remaining time, last loss, last validation metric."""

    def __init__(self, description: str = "Fine-tuning", metric_label: str = "val nDCG@10"):
        self.description = description
        self.metric_label = metric_label
        self._progress: Any = None
        self._task: Any = None

    def start(self, total_steps: int, done_steps: int) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(),
                                  TextColumn("loss {task.fields[loss]}"),
                                  TextColumn(f"{self.metric_label} {{task.fields[metric]}}"))
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

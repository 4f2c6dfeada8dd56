"""What training tests share: a display that interrupts training like Ctrl-C."""

from __future__ import annotations


class InterruptAt:
    """A training display that presses Ctrl-C once training reaches ``step``."""

    def __init__(self, step: int):
        self.step = step

    def start(self, total_steps: int, done_steps: int) -> None:
        pass

    def update(self, step: int, loss: float | None, metric: float | None) -> None:
        if step >= self.step:
            raise KeyboardInterrupt

    def stop(self) -> None:
        pass

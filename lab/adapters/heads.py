"""The adapter heads: small torch modules applied to base-model query vectors, identity at initialisation."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import LabError
from .config import KINDS


class SkipMlpHead(torch.nn.Module):
    """x + W2·gelu(W1·x + b1) + b2, with W2 and b2 zero at first so that it starts as the identity."""

    def __init__(self, dimension: int, hidden: int):
        super().__init__()
        self.up = torch.nn.Linear(dimension, hidden)
        self.down = torch.nn.Linear(hidden, dimension)
        with torch.no_grad():
            self.down.weight.zero_()
            self.down.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(torch.nn.functional.gelu(self.up(x)))


def make_head(kind: str, dimension: int, hidden: int) -> torch.nn.Module:
    """``linear``: x → Wx + b with W = I and b = 0; ``mlp``: a :class:`SkipMlpHead` with ``hidden`` units.

    Both start as the identity, so an untrained adapter reproduces the base model's vectors.
    """
    if kind == "linear":
        head = torch.nn.Linear(dimension, dimension)
        with torch.no_grad():
            head.weight.copy_(torch.eye(dimension))
            head.bias.zero_()
        return head
    if kind == "mlp":
        return SkipMlpHead(dimension, hidden)
    raise LabError(f"--adapter '{kind}': expected one of {', '.join(KINDS)}")


def forward(head: torch.nn.Module, vectors: torch.Tensor, normalise: bool) -> torch.Tensor:
    """The head on a batch of vectors, rows re-scaled to unit length when ``normalise``."""
    out = head(vectors)
    return torch.nn.functional.normalize(out, dim=1) if normalise else out


def adapt(head: torch.nn.Module, vectors: np.ndarray, normalise: bool) -> np.ndarray:
    """The head applied to float32 ``vectors`` (no gradients)."""
    with torch.inference_mode():
        out = forward(head, torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)), normalise)
    return out.numpy().astype(np.float32, copy=False)

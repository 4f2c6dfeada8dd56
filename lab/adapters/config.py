"""The settings of one adapter run: the head, its training, and the same data selection as `lab finetune`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import LabError
from ..finetune.config import FinetuneConfig
from ..mapping import model_text_fields
from ..workspace import check_name

DEFAULT_NAME = "adapter"
KINDS = ("linear", "mlp")


@dataclass(frozen=True)
class AdapterConfig:
    """A query-side adapter: ``kind`` head on ``base``'s query vectors, trained with MNRL on the
    judged (query, product) positives of ``train_split``, early-stopped on ``eval_split`` nDCG@10."""

    kind: str = "linear"
    name: str = DEFAULT_NAME
    base: str = "minilm"
    hidden: int = 1024
    """Hidden units of the mlp head."""
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 3e-4
    patience: int = 3
    """Epochs without a better val nDCG@10 before stopping."""
    scale: float = 20.0
    """MNRL: cosine similarities are multiplied by this before the softmax (sentence-transformers' default)."""
    seed: int = 42
    train_split: str = "train"
    eval_split: str = "val"
    min_label: int = 2
    text_fields: tuple[str, ...] = field(default_factory=model_text_fields)
    """Product columns joined into the product text: those of ``text_vector``, the field the index searches."""
    negatives: str = "none"
    mine_from: str = "base"
    mine_top_k: int = 30

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LabError(f"--adapter '{self.kind}': expected one of {', '.join(KINDS)}")
        check_name(self.name, "--name")
        for name in ("hidden", "epochs", "patience"):
            if getattr(self, name) < 1:
                raise LabError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.scale <= 0:
            raise LabError(f"scale must be positive, got {self.scale}")
        self.data_config()  # the data selection and batch size are checked as `lab finetune` checks them

    def data_config(self) -> FinetuneConfig:
        """The fine-tuning settings that select the same training and validation data."""
        return FinetuneConfig(name=self.name, base=self.base, train_split=self.train_split,
                              eval_split=self.eval_split, min_label=self.min_label, text_fields=self.text_fields,
                              negatives=self.negatives, mine_from=self.mine_from, mine_top_k=self.mine_top_k,
                              batch_size=self.batch_size, learning_rate=self.learning_rate, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["text_fields"] = list(self.text_fields)
        return data

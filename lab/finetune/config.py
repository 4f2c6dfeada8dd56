"""The settings of one fine-tuning run: data selection and hyper-parameters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import LabError
from ..workspace import check_name

DEFAULT_NAME = "finetuned"
NEGATIVE_MODES = ("none", "judged", "unjudged")
MINING_SOURCES = ("base", "bm25")
LOSSES = ("mnrl", "cached-mnrl")
RANK_LOSSES = ("pointwise", "listnet")
"""cross-encoder: binary cross-entropy on each pair's label; or ListNet, the cross-entropy between the softmax of the
model's scores and that of the targets over each query's pairs (the teacher's raw scores, else the grades)."""
OBJECTIVES = ("pairs", "labels", "triplets", "cross-encoder")
"""pairs: judged (query, product) positives; labels: products sharing a class label; triplets: imported
(anchor, positive, negative) rows; cross-encoder: a reranker trained on the graded judgments (lab/reranker)."""
DEFAULT_LABEL_COLUMN = "category"


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that shapes a fine-tuned model; its hash identifies a resumable run."""

    name: str = DEFAULT_NAME
    base: str = "minilm"
    objective: str = "pairs"
    label_column: str = DEFAULT_LABEL_COLUMN
    """The product column whose values are the classes of the ``labels`` objective."""
    train_split: str = "train"
    eval_split: str = "val"
    min_label: int = 2
    """Positives: (query, product) pairs whose relevance label is at least this."""
    text_fields: tuple[str, ...] = ("product_title",)
    """Product columns joined into the text the model sees (as the index's vector field does)."""
    negatives: str = "none"
    """none; judged: top-k products judged irrelevant (label 0); unjudged: also unjudged top-k products."""
    mine_from: str = "base"
    mine_top_k: int = 30
    loss: str = "mnrl"
    mini_batch_size: int = 32
    """Chunk size of cached-mnrl (memory), independent of the batch size (negatives per query)."""
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 64
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    max_seq_length: int = 64
    bf16: bool | None = None
    """None: bf16 autocast where the CPU supports it natively."""
    seed: int = 42
    evals_per_epoch: int = 1
    eval_steps: int | None = None
    """Explicit evaluation interval in steps (overrides evals_per_epoch)."""
    early_stopping_patience: int = 2
    similarity_pairs: int = 1000
    """Positive and as many random (query, product) pairs for the similarity evaluator."""
    eval_catalogue: int = 5_000
    """Evaluations during training search the val queries' judged products plus this many random others (0: the
    whole catalogue); the report after training searches the whole catalogue."""
    first_stage: str = "textsearch_boosted"
    """cross-encoder: the strategy whose top ``rerank_window`` val hits are reranked to pick the best checkpoint."""
    rerank_window: int = 50
    """cross-encoder: hits of the first stage reranked during validation."""
    negatives_per_query: int = 4
    """cross-encoder: mined hard negatives (label 0) added per training query."""
    max_eval_queries: int = 0
    """cross-encoder: val queries reranked at each evaluation (0: all; a seeded sample otherwise)."""
    teacher: str | None = None
    """cross-encoder: an LTR model whose scores, min-max scaled within each query, are the labels (distillation)
    instead of the grades (lab.reranker.distill)."""
    rank_loss: str = "pointwise"
    """cross-encoder: one of RANK_LOSSES; with listnet a batch is ``batch_size`` queries with all their pairs."""
    layers: int | None = None
    """cross-encoder: keep the base model's first ``layers`` transformer layers (None: all); fewer rerank faster."""

    def __post_init__(self) -> None:
        from ..embeddings.models import base_models

        if check_name(self.name, "--name") in base_models():
            raise LabError(f"--name '{self.name}' is a base model key: choose another name")
        if self.name == self.base:
            raise LabError(f"--name '{self.name}' is the base model itself: choose another name")
        if self.objective not in OBJECTIVES:
            raise LabError(f"--objective '{self.objective}': expected one of {', '.join(OBJECTIVES)}")
        if self.negatives not in NEGATIVE_MODES:
            raise LabError(f"--negatives '{self.negatives}': expected one of {', '.join(NEGATIVE_MODES)}")
        if self.mine_from not in MINING_SOURCES:
            raise LabError(f"--mine-from '{self.mine_from}': expected one of {', '.join(MINING_SOURCES)}")
        if self.loss not in LOSSES:
            raise LabError(f"--loss '{self.loss}': expected one of {', '.join(LOSSES)}")
        if self.rank_loss not in RANK_LOSSES:
            raise LabError(f"--rank-loss '{self.rank_loss}': expected one of {', '.join(RANK_LOSSES)}")
        if self.train_split == "test" or self.eval_split == "test":
            raise LabError("the test split is for the leaderboard only: train on 'train', evaluate on 'val'")
        for name in ("batch_size", "max_seq_length", "mine_top_k", "mini_batch_size", "evals_per_epoch",
                     "rerank_window"):
            if getattr(self, name) < 1:
                raise LabError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise LabError("--batch-size must be at least 2: in-batch negatives need a second pair")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise LabError("--epochs must be positive (or give --max-steps)")
        if not 0 < self.learning_rate < 1:
            raise LabError(f"--lr {self.learning_rate}: expected a small positive number such as 5e-5")
        if not 0 <= self.warmup_ratio < 1:
            raise LabError(f"--warmup {self.warmup_ratio}: expected a fraction of the steps in [0, 1)")
        if self.layers is not None and self.layers < 1:
            raise LabError(f"--layers must be at least 1, got {self.layers}")
        for name in ("negatives_per_query", "max_eval_queries", "eval_catalogue"):
            if getattr(self, name) < 0:
                raise LabError(f"--{name.replace('_', '-')} must be at least 0, got {getattr(self, name)}")
        if not self.text_fields:
            raise LabError("--text-fields: name at least one product column")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["text_fields"] = list(self.text_fields)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "text_fields" in values:
            values["text_fields"] = tuple(values["text_fields"])
        return cls(**values)

    def run_hash(self) -> str:
        """Identifies the run for resuming: every setting except the name."""
        data = {k: v for k, v in self.to_dict().items() if k != "name"}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

"""Fine-tuning the embedding model on the catalogue's judgments, and proving the gain."""

from __future__ import annotations

from .base_models import assert_same_pipeline, candidates, pipeline_signature
from .card import load_card
from .compare import compare_models
from .config import DEFAULT_NAME, FinetuneConfig
from .examples import TrainingData, build_training_data
from .report import draw_plots, load_report, report_dir
from .trainer import FinetuneResult, finetune, model_dir

__all__ = ["DEFAULT_NAME", "FinetuneConfig", "FinetuneResult", "TrainingData", "assert_same_pipeline",
           "build_training_data", "compare_models", "candidates", "draw_plots", "finetune", "load_card",
           "load_report", "model_dir", "pipeline_signature", "report_dir"]

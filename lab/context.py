"""Everything a command needs, resolved once: workspace, backend, current dataset, models."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .backends.base import Backend
from .errors import LabError
from .mapping import DEFAULT_MAPPING_PATH
from .workspace import check_name, read_json, sweep_workspace, workspace_path, workspace_root, write_json

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_mapping_path() -> Path:
    return DEFAULT_MAPPING_PATH


def default_queries_dir() -> Path:
    return REPO_ROOT / "queries"


@dataclass
class Lab:
    """The workspace and the backend the CLI (or a notebook) works with."""

    workspace: Path
    backend: Backend
    dataset_name: str | None = None
    mapping_path: Path = field(default_factory=default_mapping_path)
    queries_dir: Path = field(default_factory=default_queries_dir)
    _encoders: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        sweep_workspace(self.workspace)  # what a killed command left half-replaced
        override = self.workspace / "mappings" / DEFAULT_MAPPING_PATH.name
        if self.mapping_path == DEFAULT_MAPPING_PATH and override.is_file():
            self.mapping_path = override

    @property
    def workspace_queries_dir(self) -> Path:
        """``<workspace>/queries``: templates there override the checkout's of the same name."""
        return self.workspace / "queries"

    def templates(self):
        """The strategy templates: the checkout's ``queries/`` and, over them, the workspace's (read lazily)."""
        from .templates import Templates

        return Templates(self.queries_dir, self.workspace_queries_dir)

    @property
    def config_path(self) -> Path:
        return self.workspace / "config.json"

    def config(self) -> dict[str, Any]:
        return read_json(self.config_path) if self.config_path.exists() else {}

    def set_current_dataset(self, name: str) -> None:
        write_json(self.config_path, {**self.config(), "dataset": name})
        self.use_dataset(name)

    @property
    def current_dataset_name(self) -> str:
        if self.dataset_name is not None:
            return check_name(self.dataset_name, "--dataset")
        name = self.config().get("dataset")
        if not name:
            raise LabError(f"no dataset in workspace {self.workspace}: run `lab data import ...` or `lab demo` first")
        return check_name(name, f"'dataset' in {self.config_path}")

    def dataset_dir(self, name: str, option: str = "dataset name") -> Path:
        """``datasets/<name>`` in the workspace (``option``: what the name came from, for the error)."""
        return workspace_path(self.workspace, "datasets", name, option=option)

    def use_dataset(self, name: str) -> None:
        """Work on dataset ``name`` in this lab (the workspace's current dataset is left as it is)."""
        self.dataset_name = name
        self.__dict__.pop("dataset", None)

    def save_dataset(self, dataset: Any, option: str = "dataset name", current: bool = True) -> Path:
        """Store ``dataset`` in the workspace (replacing one of that name whole) and, with ``current``, make it the
        dataset commands work on; its directory."""
        path = self.dataset_dir(dataset.name, option)
        dataset.save(path)
        if current:
            self.set_current_dataset(dataset.name)
        return path

    @cached_property
    def dataset(self):
        from .data import Dataset

        path = self.dataset_dir(self.current_dataset_name)
        if not path.exists():
            raise LabError(f"dataset '{self.current_dataset_name}' not found at {path}: run `lab data import ...` first")
        return Dataset.load(path)

    @property
    def index_name(self) -> str:
        return self.current_dataset_name

    @cached_property
    def embedding_cache(self):
        from .embeddings import EmbeddingCache

        return EmbeddingCache(self.workspace / "embeddings")

    def encoder(self, model: str):
        """The encoder for a model key (``minilm``, a fine-tuned model name, a path, or a query-side
        adapter ``<base>+adapter:<name>``)."""
        if model not in self._encoders:
            from .adapters import is_adapter_key

            if is_adapter_key(model):
                from .adapters.encoder import load_adapter_encoder

                self._encoders[model] = load_adapter_encoder(self, model)
            else:
                from .embeddings import load_encoder

                self._encoders[model] = load_encoder(model, self.workspace)
        return self._encoders[model]

    def forget_encoder(self, model: str) -> None:
        """Drop a loaded encoder, so the next :meth:`encoder` call loads the model from disk again
        (after it was replaced, e.g. by `lab finetune --overwrite`)."""
        self._encoders.pop(model, None)


def open_lab(workspace: str | Path | None = None, backend: str = "embedded", dataset: str | None = None,
             **cluster: Any) -> Lab:
    """A lab on ``workspace`` (default $LAB_HOME, else ./lab-workspace) searching with ``backend`` (embedded,
    opensearch or elasticsearch; ``cluster`` settings such as ``url``, ``user``, ``shards`` go to
    :func:`lab.backends.factory.open_backend`), working on ``dataset`` (default: the last one imported)."""
    from .backends.factory import open_backend

    root = workspace_root(workspace)
    return Lab(workspace=root, backend=open_backend(backend, root, **cluster), dataset_name=dataset)

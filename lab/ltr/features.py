"""Feature sets (``features/<name>.json``): named features, each an OpenSearch query clause whose score for a
(query, product) pair is the feature's value, or a built-in the lab computes directly.

```json
{"description": "...",
 "features": [
   {"name": "title_bm25", "query": {"match": {"product_title": "{{query_text}}"}}},
   {"name": "title_cosine", "builtin": "cosine", "model": "minilm", "vector": "title_vector"},
   {"name": "query_terms", "builtin": "query_length"},
   {"name": "title_coverage", "builtin": "coverage", "field": "product_title"},
   {"name": "title_numbers", "builtin": "numbers", "field": "product_title"},
   {"name": "title_words", "builtin": "field_length", "field": "product_title"},
   {"name": "title_cross_encoder", "builtin": "cross_encoder", "model": "cross-encoder", "field": "product_title"}]}
```

A query clause may use ``{{query_text}}`` only; a product it does not match scores 0 (as in the LTR plugin).
Every error names the file and the key path (``features[2].builtin``), or the line and column of bad JSON.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..context import REPO_ROOT
from ..errors import LabError, TemplateError, did_you_mean
from ..templates import Template
from ..workspace import read_json_file

MAX_FEATURE_SET_DEPTH = 64
"""Feature sets nest queries as templates do; deeper is refused before anything recurses into it."""
FEATURES_DIR = REPO_ROOT / "features"
"""The shipped feature sets, beside ``queries/``."""

FEATURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
MAX_FEATURE_SET_BYTES = 1 << 20
BUILTINS: dict[str, tuple[str, ...]] = {
    "cosine": ("model", "vector"),
    "query_length": (),
    "coverage": ("field",),
    "numbers": ("field",),
    "field_length": ("field",),
    "head_word": ("field",),
    "bigram_coverage": ("field",),
    "cross_encoder": ("model", "field"),
}
"""Built-in features and the keys each one needs: ``cosine`` of a model's query vector and the product's vector
of one kind (``title_vector``, ``text_vector``...), ``query_length`` in words, ``coverage``: the share of the
query's words found in a product field, ``numbers``: how many of the query's numbers the field holds,
``field_length``: the field's words, ``head_word``: 1 when the query's last word (in product searches usually the
kind of product: "cordless *drill*") is in the field, ``bigram_coverage``: the share of the query's adjacent word
pairs found adjacent in the field (a phrase match in parts), ``cross_encoder``: the score of a reranker
(``rerankers/<model>``, `lab finetune --objective cross-encoder`) for the query and the field's text."""

WORD = re.compile(r"[0-9]+(?:[./][0-9]+)*|[^\W\d_]+", re.UNICODE)
NUMBER = re.compile(r"[0-9]+(?:[./][0-9]+)*")


@dataclass(frozen=True)
class Feature:
    """One feature: a query clause (``template``) or a built-in with its settings."""

    name: str
    template: Template | None = None
    builtin: str | None = None
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureSet:
    """A named list of features, read from ``path`` (``sha256``: of its bytes)."""

    name: str
    path: Path
    description: str
    features: tuple[Feature, ...]
    sha256: str

    @property
    def names(self) -> list[str]:
        """The feature names, in the set's order (the columns of logs and models)."""
        return [f.name for f in self.features]

    @property
    def models(self) -> list[str]:
        """The embedding models the ``cosine`` features read."""
        return list(dict.fromkeys(f.settings["model"] for f in self.features if f.builtin == "cosine"))

    def record(self) -> dict[str, Any]:
        """What logs and model cards keep of the feature set."""
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256, "features": self.names}


def load_feature_set(path: str | os.PathLike[str]) -> FeatureSet:
    """Read and check one feature set file."""
    path = Path(path)
    if not SET_NAME.fullmatch(path.stem):
        raise LabError(f"{path}: a feature set name uses letters, digits, '_' and '-' only")
    data, sha256 = read_json_file(path, MAX_FEATURE_SET_BYTES, MAX_FEATURE_SET_DEPTH, "feature set")
    if not isinstance(data, dict) or set(data) - {"description", "features"}:
        raise LabError(f"{path}: must be a JSON object with description and features")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise LabError(f"{path}: description: must be a string")
    items = data.get("features")
    if not isinstance(items, list) or not items:
        raise LabError(f"{path}: features: must be a non-empty array of features")
    features: list[Feature] = []
    for i, item in enumerate(items):
        feature = _feature(item, f"features[{i}]", path, sha256)
        if feature.name in {f.name for f in features}:
            raise LabError(f"{path}: features[{i}].name: '{feature.name}' is already a feature of the set")
        features.append(feature)
    return FeatureSet(path.stem, path, description, tuple(features), sha256)


def feature_set_named(name: str, directories: Sequence[str | os.PathLike[str]] = (FEATURES_DIR,)) -> FeatureSet:
    """The feature set ``<name>.json`` of the last of ``directories`` that has it (a workspace's ``features/`` over
    the checkout's); a LabError listing the known ones, with the closest, otherwise."""
    found = {p.stem: p for d in map(Path, directories) if d.is_dir() for p in sorted(d.glob("*.json"))}
    if not SET_NAME.fullmatch(name) or name not in found:
        where = " or ".join(str(d) for d in directories)
        raise LabError(f"unknown feature set '{name}' in {where}{did_you_mean(name, found)} "
                       f"(known: {', '.join(sorted(found)) or 'none'})")
    return load_feature_set(found[name])


def _feature(item: Any, where: str, path: Path, sha256: str) -> Feature:
    if not isinstance(item, dict):
        raise LabError(f"{path}: {where}: must be an object with name and query (or builtin)")
    name = item.get("name")
    if not isinstance(name, str) or not FEATURE_NAME.fullmatch(name):
        raise LabError(f"{path}: {where}.name: a feature name uses letters, digits and '_', got {json.dumps(name)}")
    if ("query" in item) == ("builtin" in item):
        raise LabError(f"{path}: {where}: give exactly one of query (an OpenSearch query clause) and builtin")
    if "query" in item:
        unknown = set(item) - {"name", "query"}
        if unknown:
            raise LabError(f"{path}: {where}.{sorted(unknown)[0]}: unknown key (a query feature has name and query)")
        if not isinstance(item["query"], dict) or len(item["query"]) != 1:
            raise LabError(f"{path}: {where}.query: must be one OpenSearch query clause, like {{\"match\": ...}}")
        template = Template(f"{path.stem}.{name}", path, "", {}, {"models": []}, {"query": item["query"]}, None, sha256)
        try:
            template.render({"query_text": "probe"})
        except TemplateError as exc:
            message = str(exc).replace(f"{path}: body.query", f"{path}: {where}.query")
            raise LabError(f"{message} (a feature query may use {{{{query_text}}}} only)") from None
        return Feature(name, template=template)
    builtin = item["builtin"]
    if builtin not in BUILTINS:
        raise LabError(f"{path}: {where}.builtin: unknown built-in {json.dumps(builtin)} "
                       f"(known: {', '.join(BUILTINS)})")
    needed = BUILTINS[builtin]
    for key in item:
        if key not in ("name", "builtin", *needed):
            raise LabError(f"{path}: {where}.{key}: unknown key for built-in '{builtin}' "
                           f"(it takes {', '.join(needed) or 'no settings'})")
    settings = {}
    for key in needed:
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise LabError(f"{path}: {where}.{key}: built-in '{builtin}' needs {key} as a non-empty string")
        settings[key] = value
    return Feature(name, builtin=builtin, settings=settings)


@lru_cache(maxsize=1 << 17)
def words(text: str | None) -> tuple[str, ...]:
    """Lower-case words and numbers (``3/4``, ``2.5`` stay whole) of ``text``, a trailing plural ``s`` dropped
    from words of more than three letters: how ``coverage`` and ``field_length`` count (cached: a product's
    title is read by several built-ins)."""
    if not text:
        return ()
    return tuple(word[:-1] if len(word) > 3 and word.endswith("s") and not word[0].isdigit() else word
                 for word in WORD.findall(text.lower()))


@lru_cache(maxsize=1 << 17)
def bigrams(text: str | None) -> tuple[tuple[str, str], ...]:
    """The adjacent pairs of :func:`words` of ``text``."""
    found = words(text)
    return tuple(zip(found, found[1:]))


@lru_cache(maxsize=1 << 17)
def numbers(text: str | None) -> frozenset[str]:
    """The numbers in ``text`` (``3/4``, ``2.5``, ``18`` of ``18v``), without leading zeros."""
    return frozenset(n.lstrip("0") or "0" for n in NUMBER.findall(text or ""))


def builtin_column(feature: Feature, queries: list[str], fields: list[str | None], query_rows: np.ndarray,
                   field_rows: np.ndarray) -> np.ndarray:
    """A text built-in's values (not ``cosine`` or ``cross_encoder``), float64, for the pairs
    (``queries[query_rows[k]]``, ``fields[field_rows[k]]``): what each query and field text needs is worked out
    once, not once per pair."""
    if feature.builtin == "query_length":
        return _sizes(map(words, queries))[query_rows]
    if feature.builtin == "field_length":
        return _sizes(map(words, fields))[field_rows]
    if feature.builtin not in ITEMS:
        raise LabError(f"built-in '{feature.builtin}' is not a text feature")
    asked, found = ITEMS[feature.builtin]
    wanted = [asked(q) for q in queries]
    shared = shared_counts(wanted, [found(f) for f in fields], query_rows, field_rows)
    if feature.builtin not in SHARES:
        return shared
    sizes = _sizes(wanted)[query_rows]
    return np.divide(shared, sizes, out=np.zeros(len(shared)), where=sizes > 0)


def shared_counts(wanted: Sequence[frozenset[Any]], found: Sequence[frozenset[Any]], query_rows: np.ndarray,
                  field_rows: np.ndarray) -> np.ndarray:
    """How many items of ``wanted[query_rows[k]]`` are in ``found[field_rows[k]]``, for every k (float64): each
    item asked of each pair becomes one key (field, item), looked up among the keys the fields hold."""
    vocabulary: dict[Any, int] = {}
    asked, asked_sizes = _item_ids(wanted, vocabulary)
    held, held_sizes = _item_ids(found, vocabulary)
    width = max(len(vocabulary), 1)
    held_keys = np.sort(np.append(np.repeat(np.arange(len(found)), held_sizes) * width + held, -1))  # -1: no key
    sizes = asked_sizes[query_rows]
    pair = np.repeat(np.arange(len(query_rows)), sizes)
    within = np.arange(len(pair)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    first = np.cumsum(asked_sizes) - asked_sizes
    keys = field_rows[pair] * width + asked[np.repeat(first[query_rows], sizes) + within]
    at = np.minimum(np.searchsorted(held_keys, keys), len(held_keys) - 1)
    return np.bincount(pair, weights=held_keys[at] == keys, minlength=len(query_rows))


def _item_ids(sets: Sequence[frozenset[Any]], vocabulary: dict[Any, int]) -> tuple[np.ndarray, np.ndarray]:
    """The items of all ``sets``, flat, as ids of ``vocabulary`` (new items added to it), and each set's size."""
    flat = [vocabulary.setdefault(item, len(vocabulary)) for items in sets for item in items]
    return np.array(flat, dtype=np.int64), np.array([len(items) for items in sets], dtype=np.int64)


def _sizes(collections: Iterable[Sized]) -> np.ndarray:
    """The length of each collection, float64."""
    return np.array([len(c) for c in collections], dtype=np.float64)


def word_set(text: str | None) -> frozenset[str]:
    """The distinct :func:`words` of ``text``."""
    return frozenset(words(text))


def bigram_set(text: str | None) -> frozenset[tuple[str, str]]:
    """The distinct :func:`bigrams` of ``text``."""
    return frozenset(bigrams(text))


def head_word(text: str | None) -> frozenset[str]:
    """The last of :func:`words` of ``text`` (in product searches usually the kind of product), none if empty."""
    found = words(text)
    return frozenset(found[-1:])


ITEMS: dict[str, tuple[Callable[[str | None], frozenset[Any]], Callable[[str | None], frozenset[Any]]]] = {
    "coverage": (word_set, word_set), "numbers": (numbers, numbers), "head_word": (head_word, word_set),
    "bigram_coverage": (bigram_set, bigram_set)}
"""The built-ins that count a query's items (words, numbers, the head word, word pairs) found in the field: what
to take of the query, what of the field."""
SHARES = ("coverage", "bigram_coverage")
"""The built-ins among :data:`ITEMS` that give the share of the query's items found (0 if it has none)."""

"""Saving an index to a directory (atomically) and loading it back.

Layout: ``index.json`` (format version, index body, field files), ``ids.json``, and per field
``<n>.npz`` (postings, norms, values) plus ``<n>.terms.json`` (term dictionary, id order) or
``<n>.vectors.npy`` (loaded copy-on-write memory-mapped, so unused vectors cost no memory).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from ..errors import LabError
from ..workspace import atomic_path
from .fields import InvertedField, NumericField, VectorField
from .mapping import parse_index_body
from .segment import Segment

S = TypeVar("S", bound=Segment)

FORMAT = "relevance-lab-embedded-index/1"


def save(index: Segment, path: str | os.PathLike[str]) -> None:
    fields: dict[str, Any] = {}
    with atomic_path(path) as tmp:
        tmp.mkdir()
        storages: list[tuple[str, InvertedField | NumericField | VectorField]] = [
            *index.inverted.items(), *index.numeric.items(), *index.vectors.items()]
        for n, (name, storage) in enumerate(storages):
            stem = str(n)
            arrays = storage.arrays()
            matrix = arrays.pop("matrix", None)
            np.savez(tmp / f"{stem}.npz", **arrays)
            if isinstance(storage, InvertedField):
                (tmp / f"{stem}.terms.json").write_text(json.dumps(list(storage.vocab), ensure_ascii=False),
                                                        encoding="utf-8")
            if matrix is not None:
                np.save(tmp / f"{stem}.vectors.npy", matrix)
            fields[name] = {"file": stem, "vectors": matrix is not None}
        (tmp / "ids.json").write_text(json.dumps(index.ids, ensure_ascii=False), encoding="utf-8")
        meta = {"format": FORMAT, "body": index.schema.body, "doc_count": index.doc_count, "fields": fields}
        (tmp / "index.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def load(cls: type[S], path: str | os.PathLike[str],
         rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> S:
    root = Path(path)
    try:
        meta = json.loads((root / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabError(f"{root}: not a saved embedded index ({exc})") from None
    if meta.get("format") != FORMAT:
        raise LabError(f"{root}: unknown index format {meta.get('format')!r} (expected {FORMAT}); rebuild the index")
    index = cls(parse_index_body(meta["body"] if rewrite is None else rewrite(meta["body"])))
    index.ids = json.loads((root / "ids.json").read_text(encoding="utf-8"))
    index.id_index = {doc_id: i for i, doc_id in enumerate(index.ids)}
    for name, entry in meta["fields"].items():
        spec = index.schema.fields[name]
        stem = entry["file"]
        with np.load(root / f"{stem}.npz") as data:
            arrays = {key: data[key] for key in data.files}
        if name in index.inverted:
            terms = json.loads((root / f"{stem}.terms.json").read_text(encoding="utf-8"))
            index.inverted[name] = InvertedField.from_arrays(spec, terms, arrays)
        elif name in index.numeric:
            index.numeric[name] = NumericField.from_arrays(spec, arrays)
        else:
            if entry["vectors"]:
                arrays["matrix"] = np.load(root / f"{stem}.vectors.npy", mmap_mode="c")
            index.vectors[name] = VectorField.from_arrays(spec, arrays)
    return index

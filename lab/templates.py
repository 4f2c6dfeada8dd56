"""Strategy templates (``queries/<name>.json``): an OpenSearch search body and optional search pipeline with
``{{placeholders}}``, rendered per query by walking the parsed JSON (never by editing JSON text).

A string that is exactly ``"{{name}}"`` becomes the typed value (number, vector, list, bool); ``{{name}}``
inside a longer string, or in an object key, is replaced by the value's text. Placeholders are the template's
params and the runner's built-ins ``query_text``, ``query_vector`` (from the first model of
``requires.models``) and ``size``. Every error names the template file and the JSON key path.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .errors import TemplateError, did_you_mean
from .workspace import atomic_path, read_json_file

BUILTINS = ("query_text", "query_vector", "size")
TOP_LEVEL_KEYS = ("description", "params", "requires", "body", "pipeline", "rerank")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
MAX_TEMPLATE_BYTES = 1 << 20
"""A template file's largest size (1 MiB): a search body, not a data file."""
MAX_TEMPLATE_DEPTH = 64
"""How deeply a template's JSON may nest (objects and arrays); OpenSearch bodies need a dozen levels."""
MANIFEST_DESCRIPTION_CHARS = 500
"""A run manifest keeps this much of the template's description (the file itself is named by its sha256)."""


@dataclass(frozen=True)
class Template:
    """One strategy: its file, defaults and the (unrendered) body and pipeline."""

    name: str
    path: Path
    description: str
    params: dict[str, Any]
    requires: dict[str, Any]
    body: dict[str, Any]
    pipeline: dict[str, Any] | None
    sha256: str
    placeholders: frozenset[str] = field(default=frozenset(), repr=False)
    rerank: dict[str, Any] | None = None
    """A second stage, ``{"ltr": model name, "window": hits reranked}`` (lab/ltr/rerank.py), or None."""

    def resolve_params(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The defaults with ``overrides`` applied; TemplateError for a name the template does not declare."""
        for name in overrides or {}:
            if name not in self.params:
                raise TemplateError(f"{self.path}: unknown param '{name}'{did_you_mean(name, self.params)} "
                                    f"(params: {_names(self.params)})")
        return {**self.params, **(overrides or {})}

    def render(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(search body, search pipeline or None) with every placeholder replaced from ``values`` (params
        and built-ins)."""
        for name, value in values.items():
            if name in BUILTINS:
                continue
            if name not in self.params:
                raise TemplateError(f"{self.path}: unknown param '{name}' (params: {_names(self.params)})")
            expected, got = _json_kind(self.params[name]), _json_kind(value)
            if expected != got:
                raise TemplateError(f"{self.path}: params.{name}: expected {expected} like the default "
                                    f"{json.dumps(self.params[name])}, got {got} {json.dumps(value)}")
        render_body, render_pipeline = self._renderers
        return render_body(values), None if render_pipeline is None else render_pipeline(values)

    @cached_property
    def _renderers(self) -> tuple[Renderer, Renderer | None]:
        return (_compile(self.body, "body", self.path),
                None if self.pipeline is None else _compile(self.pipeline, "pipeline", self.path))

    def manifest_entry(self, params: dict[str, Any]) -> dict[str, Any]:
        """What a run's manifest records of the template: its path and sha256 (never the body), the
        rendered ``params``, those that differ from the template's defaults (``overrides``) and the
        description, shortened when long."""
        description = self.description
        if len(description) > MANIFEST_DESCRIPTION_CHARS:
            description = description[:MANIFEST_DESCRIPTION_CHARS - 1] + "…"
        overrides = {k: v for k, v in params.items() if k in self.params and self.params[k] != v}
        return {"path": str(self.path), "sha256": self.sha256, "params": params, "overrides": overrides,
                "description": description}

    def models(self, params: dict[str, Any] | None = None) -> list[str]:
        """The model keys whose query vectors the template needs; the first one fills ``query_vector``."""
        values = {**self.params, **(params or {})}
        rendered = _compile(self.requires.get("models", []), "requires.models", self.path)(values)
        models: list[str] = []
        for i, model in enumerate(rendered):
            if not isinstance(model, str) or not model:
                raise TemplateError(f"{self.path}: requires.models[{i}]: must name a model, got {json.dumps(model)}")
            if model not in models:
                models.append(model)
        return models


def load_template(path: str | os.PathLike[str]) -> Template:
    """Read and check one template file."""
    path = Path(path)
    name = path.stem
    if not TEMPLATE_NAME.fullmatch(name):
        raise TemplateError(f"{path}: a strategy name uses letters, digits, '_' and '-' only")
    data, sha256 = read_json_file(path, MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH, "template", TemplateError)
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: must be a JSON object with {', '.join(TOP_LEVEL_KEYS)}")
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise TemplateError(f"{path}: {key}: unknown key (expected {', '.join(TOP_LEVEL_KEYS)})")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise TemplateError(f"{path}: description: must be a string")
    params = _check_params(data.get("params", {}), path)
    requires = _check_requires(data.get("requires", {}), path)
    if "body" not in data:
        raise TemplateError(f"{path}: body: missing (the OpenSearch search request body)")
    body = data["body"]
    if not isinstance(body, dict):
        raise TemplateError(f"{path}: body: must be a JSON object (an OpenSearch search request body)")
    pipeline = data.get("pipeline")
    if pipeline is not None and not isinstance(pipeline, dict):
        raise TemplateError(f"{path}: pipeline: must be a JSON object (an OpenSearch search pipeline body)")
    used = _check_placeholders(body, pipeline, requires, params, path)
    if "query_vector" in used and not requires.get("models"):
        raise TemplateError(f"{path}: requires.models: the body uses {{{{query_vector}}}} but names no model "
                            "to encode the query with")
    return Template(name, path, description, params, requires, body, pipeline,
                    sha256, frozenset(used), _check_rerank(data.get("rerank"), path))


class Templates(Mapping[str, Template]):
    """The strategy templates of one or more directories, by name; a later directory's file overrides an
    earlier one's of the same name (a workspace's ``queries/`` over the checkout's). Files are read on first use,
    so a broken one fails only where its strategy is used (with its TemplateError)."""

    def __init__(self, *directories: str | os.PathLike[str]):
        self.directories = [Path(d) for d in directories]
        self.paths: dict[str, Path] = {}
        for directory in self.directories:
            if directory.is_dir():
                self.paths.update({path.stem: path for path in sorted(directory.glob("*.json"))})
        self._loaded: dict[str, Template] = {}

    def __getitem__(self, name: str) -> Template:
        if name not in self.paths:
            raise KeyError(name)
        if name not in self._loaded:
            self._loaded[name] = load_template(self.paths[name])
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self.paths

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.paths))

    def __len__(self) -> int:
        return len(self.paths)

    def loadable(self) -> tuple[list[Template], dict[str, str]]:
        """Every template that loads, by name, and every broken one's error (reads them all)."""
        good, broken = [], {}
        for name in self:
            try:
                good.append(self[name])
            except TemplateError as exc:
                broken[name] = str(exc)
        return good, broken

    def source(self, name: str) -> str:
        """Which directory ``name`` comes from: ``workspace`` (an override or a new strategy) or ``checkout``."""
        return "checkout" if self.paths[name].parent == self.directories[0] else "workspace"


def load_templates(*directories: str | os.PathLike[str]) -> Templates:
    """The templates of ``directories`` (see :class:`Templates`); TemplateError when none of them exists."""
    if not any(Path(d).is_dir() for d in directories):
        raise TemplateError(f"{Path(directories[0])}: no such strategy directory")
    return Templates(*directories)


def template_named(templates: Mapping[str, Template], name: str) -> Template:
    """The template called ``name`` (its TemplateError if its file is broken); a LabError listing the known ones,
    with the closest, when there is none."""
    if name not in templates:
        raise TemplateError(f"unknown strategy '{name}'{did_you_mean(name, templates)} "
                            f"(known: {', '.join(sorted(templates))})")
    return templates[name]


def write_template(source: Template, target: Path, params: dict[str, Any] | None = None,
                   description: str | None = None) -> Path:
    """A new template file at ``target``: ``source``'s file with ``params`` as new defaults and a new
    ``description``; written atomically, never over an existing file (TemplateError)."""
    if not TEMPLATE_NAME.fullmatch(target.stem):
        raise TemplateError(f"{target.stem!r}: a strategy name uses letters, digits, '_' and '-' only")
    if target.exists():
        raise TemplateError(f"{target}: a strategy of that name exists already")
    data, _ = read_json_file(source.path, MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH, "template", TemplateError)
    if params:
        unknown = [k for k in params if k not in source.params]
        if unknown:
            raise TemplateError(f"{source.path}: params: no param '{unknown[0]}' to set")
        data["params"] = {**data.get("params", {}), **params}
    if description is not None:
        data["description"] = description
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as staged:
        staged.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def parse_param_overrides(items: list[str]) -> dict[str, Any]:
    """``["name=value", ...]`` from ``--param``: the value is JSON when it parses as JSON, else a string."""
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not NAME.fullmatch(name):
            raise TemplateError(f"--param {item!r}: expected name=value, e.g. title_boost=4 or weights=[0.4,0.6]")
        try:
            overrides[name] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name] = text
    return overrides


def param_arguments(params: dict[str, Any]) -> str:
    """``--param name=value`` arguments, quoted for a POSIX shell, that :func:`parse_param_overrides` reads back
    as ``params``."""
    import shlex

    def text(value: Any) -> str:
        if isinstance(value, str):
            try:
                json.loads(value)
            except json.JSONDecodeError:
                return value  # read back as the same string
        return json.dumps(value, separators=(",", ":"))

    return " ".join(f"--param {shlex.quote(f'{name}={text(value)}')}" for name, value in params.items())


# --- checking ------------------------------------------------------------------------------------

def _check_params(params: Any, path: Path) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise TemplateError(f"{path}: params: must be an object of name: default value")
    for name in params:
        if not NAME.fullmatch(name):
            raise TemplateError(f"{path}: params.{name}: a param name uses letters, digits and '_'")
        if name in BUILTINS:
            raise TemplateError(f"{path}: params.{name}: '{name}' is a built-in placeholder the runner fills")
    return params


def _check_requires(requires: Any, path: Path) -> dict[str, Any]:
    if not isinstance(requires, dict):
        raise TemplateError(f"{path}: requires: must be an object like {{\"models\": [\"{{{{model}}}}\"]}}")
    for key in requires:
        if key != "models":
            raise TemplateError(f"{path}: requires.{key}: unknown key (expected models)")
    models = requires.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise TemplateError(f"{path}: requires.models: must be an array of model keys")
    return requires


def _check_rerank(rerank: Any, path: Path) -> dict[str, Any] | None:
    if rerank is None:
        return None
    if not isinstance(rerank, dict) or not isinstance(rerank.get("ltr"), str) or not rerank["ltr"]:
        raise TemplateError(f"{path}: rerank: must be an object like {{\"ltr\": \"MODEL\", \"window\": 100}}")
    for key in rerank:
        if key not in ("ltr", "window"):
            raise TemplateError(f"{path}: rerank.{key}: unknown key (expected ltr, window)")
    window = rerank.get("window", 100)
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise TemplateError(f"{path}: rerank.window: must be a positive integer, got {json.dumps(window)}")
    return {"ltr": rerank["ltr"], "window": window}


def _check_placeholders(body: dict[str, Any], pipeline: dict[str, Any] | None, requires: dict[str, Any],
                        params: dict[str, Any], path: Path) -> set[str]:
    used: set[str] = set()
    sections = [("body", body, BUILTINS), ("pipeline", pipeline, BUILTINS), ("requires", requires, ())]
    for section, node, builtins in sections:
        for key_path, name in _placeholders(node, section):
            if name not in params and name not in builtins:
                known = ", ".join([*params, *builtins]) or "none"
                raise TemplateError(f"{path}: {key_path}: unknown placeholder {{{{{name}}}}} (known: {known})")
            used.add(name)
    unused = [name for name in params if name not in used]
    if unused:
        raise TemplateError(f"{path}: params.{unused[0]}: declared but never used as {{{{{unused[0]}}}}}")
    return used


def _placeholders(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        for match in PLACEHOLDER.finditer(node):
            yield path, match[1]
    elif isinstance(node, dict):
        for key, value in node.items():
            for match in PLACEHOLDER.finditer(key):
                yield _child(path, key), match[1]
            yield from _placeholders(value, _child(path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _placeholders(item, f"{path}[{i}]")


# --- rendering -----------------------------------------------------------------------------------

Renderer = Callable[[Mapping[str, Any]], Any]
"""A template part compiled for rendering: values in, the rendered JSON out (fresh containers every call)."""


def _compile(node: Any, path: str, file: Path) -> Renderer:
    """``node`` as a :data:`Renderer`: the walk, key paths and placeholder matching are done once, here."""
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        if whole:
            name = whole[1]
            return lambda values: _copy(_value(name, values, path, file))
        if PLACEHOLDER.search(node) is None:
            return lambda values: node
        return lambda values: _substitute(node, values, path, file)
    if isinstance(node, dict):
        parts = [(key, _child(path, key), _compile(value, _child(path, key), file)) for key, value in node.items()]
        if not any(PLACEHOLDER.search(key) for key in node):
            return lambda values: {key: render(values) for key, _, render in parts}
        return lambda values: _render_object(parts, values, file)
    if isinstance(node, list):
        items = [_compile(item, f"{path}[{i}]", file) for i, item in enumerate(node)]
        return lambda values: [render(values) for render in items]
    return lambda values: node


def _substitute(text: str, values: Mapping[str, Any], path: str, file: Path) -> str:
    return PLACEHOLDER.sub(lambda m: _as_text(m[1], _value(m[1], values, path, file), path, file), text)


def _render_object(parts: list[tuple[str, str, Renderer]], values: Mapping[str, Any], file: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, child, render in parts:
        name = _substitute(key, values, child, file)
        if name in out:
            raise TemplateError(f"{file}: {child}: renders to the key '{name}', which the object already has")
        out[name] = render(values)
    return out


def _value(name: str, values: Mapping[str, Any], path: str, file: Path) -> Any:
    if name not in values:
        raise TemplateError(f"{file}: {path}: no value for {{{{{name}}}}}")
    return values[name]


def _as_text(name: str, value: Any, path: str, file: Path) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        raise TemplateError(f"{file}: {path}: {{{{{name}}}}} is {_json_kind(value)} and cannot be part of a "
                            f"longer string; write \"{{{{{name}}}}}\" alone as the whole value")
    return json.dumps(value)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        if set(map(type, value)) <= _SCALARS:  # a vector: no containers inside
            return value.copy()
        return [_copy(v) if isinstance(v, (list, dict)) else v for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


_SCALARS = {float, int, str, bool, type(None)}


def _child(path: str, key: str) -> str:
    return f"{path}.{key}"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def _names(params: dict[str, Any]) -> str:
    return ", ".join(params) or "none"

"""Regenerate ``openapi-subset.json`` from a checkout of opensearch-api-specification.

Usage: ``python tests/data/opensearch/vendor_spec.py [SPEC_ROOT]`` (default ``../shared/opensearch-api-spec``
relative to the repository). It keeps the operations the OpenSearch backend calls, plus every schema they
reference, in one OpenAPI 3.1 document whose references all point inside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "openapi-subset.json"
OPERATION_GROUPS = (
    "info", "cat.plugins", "bulk", "count", "explain", "msearch", "search", "search_pipeline.put",
    "indices.create", "indices.delete", "indices.forcemerge", "indices.get_alias", "indices.get_mapping",
    "indices.exists", "indices.get_settings", "indices.put_mapping", "indices.put_settings", "indices.refresh",
    "indices.update_aliases",
)
METHODS = ("get", "put", "post", "delete", "head")
PRUNED = {
    # Aggregations are never sent nor read by the lab; their 280 schemas are replaced by an open stub.
    "_common.aggregations___AggregationContainer",
    "_common.aggregations___Aggregate",
}
PRUNED_STUB = {"description": "Pruned by vendor_spec.py: relevance-lab never sends or reads aggregations."}


class Bundler:
    """Copies components out of the split YAML files, renaming references to bundle-local ones."""

    def __init__(self, spec_root: Path):
        self.spec = spec_root / "spec"
        self.files: dict[Path, dict[str, Any]] = {}
        self.components: dict[str, dict[str, Any]] = {}
        self.pending: list[tuple[Path, str, str]] = []

    def load(self, path: Path) -> dict[str, Any]:
        if path not in self.files:
            self.files[path] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return self.files[path]

    def local_name(self, path: Path, kind: str, name: str) -> str:
        return f"{path.stem}___{name}" if kind == "schemas" else name

    def rewrite(self, node: Any, path: Path) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    out[key] = self.reference(value, path)
                else:
                    out[key] = self.rewrite(value, path)
            return out
        if isinstance(node, list):
            return [self.rewrite(v, path) for v in node]
        return node

    def reference(self, ref: str, path: Path) -> str:
        target, _, pointer = ref.partition("#")
        target_path = (path.parent / target).resolve() if target else path
        _, components, kind, name = pointer.split("/", 3)
        assert components == "components", ref
        local = self.local_name(target_path, kind, name)
        if local not in self.components.setdefault(kind, {}):
            self.components[kind][local] = None  # reserved; filled when processed
            self.pending.append((target_path, kind, name))
        return f"#/components/{kind}/{local}"

    def drain(self) -> None:
        while self.pending:
            path, kind, name = self.pending.pop()
            local = self.local_name(path, kind, name)
            if local in PRUNED:
                self.components[kind][local] = PRUNED_STUB
                continue
            source = self.load(path)["components"][kind][name]
            self.components[kind][local] = self.rewrite(source, path)

    def bundle(self, commit_note: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for namespace in sorted((self.spec / "namespaces").glob("*.yaml")):
            doc = self.load(namespace.resolve())
            for route, item in (doc.get("paths") or {}).items():
                for method in METHODS:
                    op = item.get(method)
                    if op and op.get("x-operation-group") in OPERATION_GROUPS:
                        paths.setdefault(route, {})[method] = self.rewrite(op, namespace.resolve())
        self.drain()
        return {
            "openapi": "3.1.0",
            "info": {"title": "OpenSearch API (subset used by relevance-lab)", "version": "1.0.0",
                     "description": commit_note},
            "paths": dict(sorted(paths.items())),
            "components": {kind: dict(sorted(items.items())) for kind, items in sorted(self.components.items())},
        }


def dump(bundle: dict[str, Any]) -> str:
    """JSON with one path or component per line: compact, yet readable in a diff."""
    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def section(mapping: dict[str, Any], indent: str) -> str:
        return "{\n" + ",\n".join(f"{indent}{compact(k)}:{compact(v)}" for k, v in mapping.items()) + "}"

    parts = [f'"openapi":{compact(bundle["openapi"])}', f'"info":{compact(bundle["info"])}',
             f'"paths":{section(bundle["paths"], "  ")}']
    components = ",\n ".join(f"{compact(kind)}:{section(items, '  ')}" for kind, items in bundle["components"].items())
    parts.append('"components":{' + components + "}")
    return "{" + ",\n".join(parts) + "}\n"


def main(argv: list[str]) -> None:
    root = Path(argv[1]) if len(argv) > 1 else HERE.parents[3] / "shared" / "opensearch-api-spec"
    note = (root / "SOURCE.md").read_text(encoding="utf-8").strip()
    bundle = Bundler(root.resolve()).bundle(note)
    OUTPUT.write_text(dump(bundle), encoding="utf-8")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size:,} bytes, {len(bundle['paths'])} paths, "
          f"{len(bundle['components']['schemas'])} schemas)")


if __name__ == "__main__":
    main(sys.argv)

"""The house rules of lab/: imports flow one way (no loop, counting imports inside functions), no module
imports another's private names, the checks commands share are written once, and the README's "From
Python" example runs as printed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "lab"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in LAB.rglob("*.py")}


def imported(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import statement in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            others = [n for n in names if f"{target}.{n}" not in MODULES]
            found += [(s, []) for s in submodules] + ([(target, others)] if others else [])
    return [(t, n) for t, n in found if t == "lab" or t.startswith("lab.")]


def owning_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        targets = {owning_module(t) for t, _ in imported(module, path)}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walker_finds_a_loop_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    source = "def f():\n    from .b import thing\n"
    tree_targets = [node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)]
    assert tree_targets == ["b"]


def test_no_import_loop_in_lab():
    assert cycles(import_graph()) == []


def test_no_module_imports_a_private_name_of_another():
    private = []
    for module, path in MODULES.items():
        for target, names in imported(module, path):
            hidden = [n for n in names if n.startswith("_") and not n.startswith("__")]
            hidden += [part for part in target.split(".") if part.startswith("_") and not part.startswith("__")]
            if hidden and owning_module(target) != module:
                private.append(f"{module} imports {', '.join(hidden)} from {target}")
    assert private == []


@pytest.mark.parametrize("message", ["unknown strategy '", "unknown metric '", "unknown backend '"])
def test_shared_checks_are_written_once(message):
    places = [f"{p.relative_to(ROOT)}:{i}" for p in LAB.rglob("*.py")
              for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if message in line]
    assert len(places) == 1, places


def test_cli_commands_are_registered_one_way():
    """Every module of lab/cli/ with commands lists them in COMMANDS, and main.py adds them all."""
    import importlib

    from lab.cli import cli

    modules = [importlib.import_module(f"lab.cli.{p.stem}") for p in sorted((LAB / "cli").glob("*.py"))]
    listed = [c.name for m in modules for c in getattr(m, "COMMANDS", ())]
    assert sorted(listed) == sorted(cli.commands)
    for path in (LAB / "cli").glob("*.py"):
        assert "@cli." not in path.read_text(encoding="utf-8"), path


def test_importing_the_cli_loads_no_model_or_client_library():
    code = ("import sys, lab.cli; print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'ranx', "
            "'opensearchpy', 'elasticsearch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def readme_python_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    return textwrap.dedent(re.search(r"```python\n(.*?)```", section, re.S).group(1))


def test_the_readme_python_example_runs(tmp_path):
    result = subprocess.run([sys.executable, "-c", readme_python_example()], capture_output=True, text=True,
                            cwd=tmp_path, timeout=600, env={**__import__("os").environ, "LAB_HOME": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "textsearch" in result.stdout and "vectorsearch" in result.stdout
    assert (tmp_path / "lab-workspace" / "runs" / "demo").is_dir()


def test_the_text_a_model_reads_is_defined_by_the_mapping_alone():
    """Fine-tuning, adapters and the CLI defaults read text_vector's sources from mappings/products.json;
    no module keeps its own copy of that list."""
    import json

    from lab.adapters.config import AdapterConfig
    from lab.mapping import model_text_fields

    body = json.loads((ROOT / "mappings" / "products.json").read_text(encoding="utf-8"))
    expected = tuple(body["mappings"]["_meta"]["relevance_lab"]["vector_sources"]["text_vector"])
    assert model_text_fields() == expected and AdapterConfig().text_fields == expected
    copies = [str(p.relative_to(ROOT)) for p in LAB.rglob("*.py")
              if re.search(r"""\(\s*["']product_title["'],\s*["']product_description["'],\s*["']attributes["'],?\s*\)""",
                           p.read_text(encoding="utf-8"))]
    assert copies == []

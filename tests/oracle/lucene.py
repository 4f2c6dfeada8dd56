"""Real Lucene as a test oracle: analysis and BM25 search through ``LuceneOracle.java``.

The harness is compiled on demand into ``tests/oracle/build/`` against Debian's
``liblucene8-java`` jars (Lucene 8.7) and fed over a tab-separated line protocol (see the Java
file's header). Tests call :func:`require_lucene` first; it skips them, with a visible reason,
where java/javac or the jars are absent (and fails them under ``CI=true``). Any Lucene 8 release Debian
ships will do: the newest 8.x jar of each module is taken, by version number.

Search queries are given in the OpenSearch query DSL subset the engine is compared on: ``match``,
``multi_match`` (best_fields / most_fields), ``bool``, ``dis_max``, ``term``, ``constant_score``,
``match_all``, ``boost`` on any clause; ``minimum_should_match`` as an integer. The Java side
analyses query text with Lucene's analyzers and builds Lucene queries as OpenSearch's builders do.
"""

from __future__ import annotations

import glob
import re
import shutil
import struct
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "LuceneOracle.java"
BUILD = HERE / "build"
JAR_DIRS = ("/usr/share/java",)
JARS = ("core", "analyzers-common", "misc")
ABSENT = "java/liblucene8-java absent"
JVM_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss16m")
"""Short runs on a small machine: one GC thread and the quick JIT start three times faster."""
TIMING_JVM_FLAGS = tuple(f for f in JVM_FLAGS if not f.startswith("-XX:TieredStopAtLevel"))
"""For timings: the full tiered JIT (C2 included), as a Lucene server runs; still one GC thread."""

SIMILARITIES = ("bm25", "legacy_bm25")
"""bm25: Lucene's BM25Similarity(1.2, 0.75), OpenSearch 3.x's default; legacy_bm25:
LegacyBM25Similarity(1.2, 0.75), OpenSearch 1.x/2.x's default (scores times k1 + 1, with the
boost multiplied by 2.2 in float before scoring) and OpenSearch 3.x's "LegacyBM25" type."""


def _version(path: str) -> tuple[int, ...]:
    """The version numbers in a jar's name (``lucene-core-8.11.2.jar`` → (8, 11, 2)); () for an unversioned one."""
    match = re.search(r"-(\d+(?:\.\d+)*)\.jar$", path)
    return tuple(int(n) for n in match.group(1).split(".")) if match else ()


def _find_jar(name: str) -> str | None:
    for directory in JAR_DIRS:
        for pattern in (f"lucene-{name}-8.*.jar", f"lucene8-{name}.jar", f"lucene8-{name}-*.jar"):
            found = sorted(glob.glob(f"{directory}/{pattern}"), key=lambda p: (_version(p), p))
            if found:
                return found[-1]
    return None


@lru_cache(maxsize=1)
def _classpath() -> str | None:
    """The classpath with the compiled harness, compiling it if needed; None if impossible."""
    if not (shutil.which("java") and shutil.which("javac")):
        return None
    jars = [_find_jar(name) for name in JARS]
    if not all(jars):
        return None
    classpath = ":".join(jars)  # type: ignore[arg-type]
    compiled = BUILD / "LuceneOracle.class"
    if not compiled.exists() or compiled.stat().st_mtime < SOURCE.stat().st_mtime:
        BUILD.mkdir(exist_ok=True)
        subprocess.run(["javac", "-nowarn", "-cp", classpath, "-d", str(BUILD), str(SOURCE)],
                       check=True, capture_output=True)
    return f"{classpath}:{BUILD}"


def lucene_available() -> bool:
    return _classpath() is not None


def require_lucene() -> None:
    """Skip the calling test when the oracle cannot run here (fail it under CI=true)."""
    if not lucene_available():
        from tests.ci_support import missing

        missing(ABSENT)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out, chars = [], iter(field)
    for c in chars:
        if c == "\\":
            e = next(chars)
            out.append({"t": "\t", "n": "\n", "r": "\r"}.get(e, e))
        else:
            out.append(c)
    return "".join(out)


def _line(*fields: object) -> str:
    return "\t".join(_escape(str(f)) for f in fields)


def _run(lines: list[str], jvm_flags: tuple[str, ...] = JVM_FLAGS) -> list[list[str]]:
    classpath = _classpath()
    if classpath is None:
        raise RuntimeError(ABSENT)
    proc = subprocess.run(["java", *jvm_flags, "-cp", classpath, "LuceneOracle"],
                          input="\n".join(lines) + "\n", capture_output=True, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"LuceneOracle failed: {proc.stderr.strip()[-2000:]}")
    return [[_unescape(f) for f in row.split("\t")] for row in proc.stdout.split("\n")[:-1]]


def lucene_analyze(analyzer: str, texts: list[str]) -> list[list[str]]:
    """Lucene's tokens for each text. Analyzers: standard (StandardAnalyzer, no stop words, as
    OpenSearch's "standard"), english, keyword, whitespace, simple, stop, and
    standard_tokenizer (the bare StandardTokenizer, no lowercasing)."""
    rows = _run([_line("analyze", analyzer)] + [_escape(t) for t in texts])
    assert len(rows) == len(texts), "oracle answered a different number of texts"
    return [row[1:1 + int(row[0])] for row in rows]


def _search_lines(docs: list[dict[str, Any]], field_analyzers: dict[str, str], queries: list[dict[str, Any]],
                  size: int, similarity: str, *header: object) -> list[str]:
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}")
    lines = [_line("search", similarity, *header)]
    lines += [_line("field", f, a) for f, a in field_analyzers.items()]
    for doc in docs:
        fields = [x for f in field_analyzers if doc.get(f) is not None for x in (f, doc[f])]
        lines.append(_line("doc", doc["id"], *fields))
    lines += [_line("query", size, *to_prefix(q, field_analyzers)) for q in queries]
    return lines


def _results(rows: list[list[str]]) -> list[dict[str, Any]]:
    results = []
    for row in rows:
        hits = [(row[i], struct.unpack(">f", bytes.fromhex(row[i + 1].zfill(8)))[0])
                for i in range(1, len(row), 2)]
        results.append({"total": int(row[0]), "hits": hits})
    return results


def lucene_search(docs: list[dict[str, Any]], field_analyzers: dict[str, str],
                  queries: list[dict[str, Any]], size: int,
                  similarity: str = "bm25") -> list[dict[str, Any]]:
    """Index ``docs`` (each ``{"id": ..., field: text, ...}``; absent or None fields are left out)
    in one segment in order, run each OpenSearch ``query`` clause and return, per query,
    ``{"total": n, "hits": [(id, score), ...]}`` with Lucene's exact float32 scores."""
    return _results(_run(_search_lines(docs, field_analyzers, queries, size, similarity)))


def lucene_search_timed(docs: list[dict[str, Any]], field_analyzers: dict[str, str],
                        queries: list[dict[str, Any]], size: int, passes: int,
                        similarity: str = "bm25") -> tuple[list[dict[str, Any]], list[float]]:
    """:func:`lucene_search`'s results plus the seconds of each of ``passes`` runs over all ``queries``.

    After indexing, the JVM (full JIT: :data:`TIMING_JVM_FLAGS`) runs the whole query list ``passes`` times
    on one thread, each pass analysing the query text, building every query and collecting the top ``size``;
    the first pass is cold, later ones JIT-warmed. The results are the first pass's."""
    if passes < 1:
        raise ValueError("passes must be at least 1")
    rows = _run(_search_lines(docs, field_analyzers, queries, size, similarity, passes), TIMING_JVM_FLAGS)
    times = rows[len(rows) - passes:]
    if len(rows) != len(queries) + passes or any(row[0] != "time" for row in times):
        raise RuntimeError("LuceneOracle answered an unexpected number of lines in timing mode")
    return _results(rows[:len(queries)]), [int(row[1]) / 1e9 for row in times]


# ---- OpenSearch DSL -> the harness's prefix form ------------------------------------------------

def _msm(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).lstrip("-").isdigit():
        raise ValueError(f"minimum_should_match must be an integer here, got {value!r}")
    return str(int(value))


def _occur(operator: str) -> str:
    op = operator.lower()
    if op not in ("or", "and"):
        raise ValueError(f"operator must be or/and, got {operator!r}")
    return "MUST" if op == "and" else "SHOULD"


def _clauses(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _field_boost(spec: str) -> tuple[str, float]:
    name, _, boost = spec.partition("^")
    return name, float(boost) if boost else 1.0


def to_prefix(query: dict[str, Any], fields: dict[str, str]) -> list[str]:
    """Translate one OpenSearch query clause into the harness's prefix tokens."""
    (kind, body), = query.items()
    if kind == "match":
        (field, spec), = body.items()
        spec = spec if isinstance(spec, dict) else {"query": spec}
        return ["match", field, str(spec["query"]), _occur(spec.get("operator", "or")),
                _msm(spec.get("minimum_should_match")), repr(float(spec.get("boost", 1.0)))]
    if kind == "multi_match":
        kind_ = body.get("type", "best_fields")
        if kind_ not in ("best_fields", "most_fields"):
            raise ValueError(f"multi_match type {kind_!r} is not supported by the oracle")
        names = [_field_boost(f) for f in body["fields"]]
        tie = body.get("tie_breaker")
        tokens = ["multi", "-" if tie is None else repr(float(tie)), "1" if kind_ == "most_fields" else "0",
                  str(body["query"]), _occur(body.get("operator", "or")),
                  _msm(body.get("minimum_should_match")), repr(float(body.get("boost", 1.0))), str(len(names))]
        for name, boost in names:
            tokens += [name, repr(boost)]
        return tokens
    if kind == "term":
        (field, spec), = body.items()
        spec = spec if isinstance(spec, dict) else {"value": spec}
        return ["term", field, str(spec["value"]), repr(float(spec.get("boost", 1.0)))]
    if kind == "bool":
        groups = [_clauses(body.get(k)) for k in ("must", "should", "filter", "must_not")]
        tokens = ["bool", *(str(len(g)) for g in groups), _msm(body.get("minimum_should_match")),
                  repr(float(body.get("boost", 1.0)))]
        for group in groups:
            for clause in group:
                tokens += to_prefix(clause, fields)
        return tokens
    if kind == "dis_max":
        children = body["queries"]
        tokens = ["dismax", str(len(children)), repr(float(body.get("tie_breaker", 0.0))),
                  repr(float(body.get("boost", 1.0)))]
        for clause in children:
            tokens += to_prefix(clause, fields)
        return tokens
    if kind == "constant_score":
        return ["const", repr(float(body.get("boost", 1.0)))] + to_prefix(body["filter"], fields)
    if kind == "match_all":
        return ["all", repr(float(body.get("boost", 1.0)))]
    raise ValueError(f"query kind {kind!r} is not supported by the oracle")

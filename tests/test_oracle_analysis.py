"""Our analyzers against real Lucene 8.7 on thousands of generated product-like texts, the grammar's
corner cases and, where the data is present, every Home Depot product title."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from lab.engine.analysis import get_analyzer
from tests.oracle import textgen
from tests.oracle.lucene import lucene_analyze, require_lucene
from tests.test_analysis import SAMPLES

pytestmark = pytest.mark.oracle

HOMEDEPOT = (Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot")


def generated_texts() -> list[str]:
    rng = random.Random(29)
    symbols = sorted(SAMPLES.values())
    grammar = ["".join(rng.choice(symbols) for _ in range(rng.randint(1, 16))) for _ in range(1500)]
    return (textgen.titles(3000, seed=1) + textgen.titles(500, seed=2, exotic=0.5)
            + [textgen.description(rng) for _ in range(100)] + textgen.long_runs() + grammar
            + ["", " ", "\n\t", "'s", "_", "a'", "'a", "a\U0001d400\U0001d400ing \U0001d400s B\U0001d400\U0001d400S"])


def assert_same(analyzer: str, texts: list[str]) -> None:
    ours = [get_analyzer(analyzer).analyze(t) for t in texts]
    theirs = lucene_analyze(analyzer, texts)
    bad = [(t, o, l) for t, o, l in zip(texts, ours, theirs) if o != l]
    examples = "\n".join(f"  {t!r}\n    ours:   {o}\n    lucene: {l}" for t, o, l in bad[:8])
    assert not bad, f"{analyzer}: {len(bad)}/{len(texts)} texts differ ({len(bad) / len(texts):.3%})\n{examples}"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    require_lucene()
    return generated_texts()


@pytest.mark.parametrize("analyzer", ["standard", "english", "simple", "stop", "whitespace", "keyword"])
def test_generated_texts_analyze_as_lucene(texts, analyzer):
    assert_same(analyzer, texts)


def test_homedepot_titles_analyze_as_lucene():
    require_lucene()
    files = [HOMEDEPOT / n for n in ("train.csv", "test.csv") if (HOMEDEPOT / n).exists()]
    if not files:
        pytest.skip(f"Home Depot data absent ({HOMEDEPOT})")
    titles = pd.concat(pd.read_csv(f, encoding="ISO-8859-1", usecols=["product_title"]) for f in files)
    unique = titles["product_title"].astype(str).drop_duplicates().tolist()
    for analyzer in ("standard", "english"):
        assert_same(analyzer, unique)

"""The generated demo catalogue: deterministic, well-formed, graded by facets, hard for word matching."""

from __future__ import annotations

import re

import pytest

from lab.data import SPLITS, Dataset, generate_demo
from lab.errors import LabError


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return generate_demo()


def _product_type(attributes: str) -> str:
    return re.search(r"Product Type (.+?) Size ", attributes).group(1)


def test_same_seed_same_data_other_seed_other_data(demo):
    assert generate_demo().fingerprint() == demo.fingerprint()
    assert generate_demo(seed=14).fingerprint() != demo.fingerprint()


def test_shape_and_columns(demo):
    assert demo.name == "demo"
    assert len(demo.products) == 3000 and len(demo.queries) == 300
    assert demo.queries["query_id"].is_unique
    assert demo.products[["product_title", "product_description", "attributes", "brand"]].notna().all().all()
    titles = " ".join(demo.products["product_title"])
    for notation in (" in. ", "-gal. ", "-Volt ", " ft. ", "-Watt "):
        assert notation in titles
    assert set(demo.qrels["relevance"]) == {0, 1, 2}
    assert set(demo.queries["split"]) == set(SPLITS)


def test_judged_queries_have_a_relevant_product_and_some_queries_are_unjudged(demo):
    counts = demo.meta["counts"]
    assert 0 < counts["unjudged_queries"] < 0.15 * counts["queries"]
    best = demo.qrels.groupby("query_id")["relevance"].max()
    assert (best == 2).all()
    assert counts["splits"]["test"]["judged"] > 30


def test_grades_follow_product_types(demo):
    types = dict(zip(demo.products["product_id"], demo.products["attributes"].map(_product_type)))
    for _qid, group in demo.qrels.groupby("query_id"):
        by_label = {label: {types[p] for p in g["product_id"]} for label, g in group.groupby("relevance")}
        assert len(by_label[2]) == 1  # every 2 is the query's type
        assert by_label.get(1, by_label[2]) == by_label[2]  # 1 = that type, a facet missing
        assert not (by_label.get(0, set()) & by_label[2])  # 0 = a related, different type


def test_queries_are_not_just_title_words(demo):
    """Synonyms and typos: many queries share no word with the titles of their relevant products."""
    words = lambda text: set(re.findall(r"[a-z0-9]+", text.lower()))
    titles = dict(zip(demo.products["product_id"], demo.products["product_title"].map(words)))
    vocabulary = set().union(*titles.values(), *demo.products["product_description"].map(words))
    texts = dict(zip(demo.queries["query_id"], demo.queries["query_text"]))
    relevant = demo.qrels[demo.qrels["relevance"] == 2].groupby("query_id")["product_id"].agg(list)
    missing_type_word = sum(
        1 for qid, pids in relevant.items()
        if not any(words(texts[qid]) - {"in", "ft"} <= titles[p] for p in pids))
    unknown_words = sum(1 for t in texts.values() if words(t) - vocabulary)
    assert missing_type_word > 0.3 * len(relevant)
    assert unknown_words > 0.05 * len(texts)  # typos (and sizes written "1/2 inch")


def test_small_catalogues_and_bad_sizes(tmp_path):
    small = generate_demo(seed=1, n_products=40, n_queries=10)
    assert len(small.products) == 40 and len(small.queries) == 10
    small.save(tmp_path / "demo")
    assert Dataset.load(tmp_path / "demo").fingerprint() == small.fingerprint()
    with pytest.raises(LabError, match="at least one product"):
        generate_demo(n_products=0)

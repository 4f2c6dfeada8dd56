"""A generated home-improvement catalogue with graded judgments, for the offline demo.

Products are built from facets (department, type, brand, line, size, feature, material, finish)
into Home Depot-style titles, descriptions and attribute text; the department is also the product's
``category`` column, a class label for `lab finetune --objective labels` and `lab eval neighbors`.
Each query is built from one product's facets — the type plus zero, one or two of brand, size,
finish, feature — and written the way shoppers type: lower case, sizes as ``1/2 inch`` or
``1/2"``, often a synonym for the type (``weed eater`` for *String Trimmer*) and sometimes a
misspelling, so that matching words in titles alone is imperfect and vector and hybrid search have
room to help.

Judgments follow the facets: a product of the query's type that has every facet the query names
is 2, a product of that type missing one is 1, a product of a related type (same department) is 0.
Pools are sampled (up to 40 / 20 / 8 products), about a tenth of each pool is left unjudged, and
about one query in twenty has no judgments at all. Everything is fixed by the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..errors import LabError
from .dataset import Dataset
from .demo_catalogue import BENEFITS, DEPARTMENTS, LINES, Department, ProductType
from .ids import query_id_for
from .splits import split_of

FACETS = ("brand", "size", "finish", "feature")
QUERY_SHAPES: tuple[tuple[tuple[str, ...], float], ...] = (
    ((), 0.2), (("brand",), 0.2), (("size",), 0.15), (("brand", "size"), 0.15),
    (("finish",), 0.15), (("feature",), 0.15),
)
POOL_CAPS = {2: 40, 1: 20, 0: 8}
SYNONYM_RATE = 0.5
MISSPELL_RATE = 0.2
UNJUDGED_POOL_RATE = 0.1
UNJUDGED_QUERY_RATE = 0.05


@dataclass
class _Catalogue:
    """The generated products' facets as parallel columns (one entry per product)."""

    types: list[tuple[Department, ProductType]]
    type_of: np.ndarray
    facets: dict[str, np.ndarray]
    sizes: list
    frame: pd.DataFrame


def _model_number(rng: random.Random) -> str:
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(2))
    return f"#{letters}-{rng.randint(100, 9999)}"


def _title(dept: Department, ptype: ProductType, brand: str, line: str, size_title: str,
           feature: str, material: str, finish: str) -> str:
    text = dept.pattern.format(brand=brand, line=line, size=size_title, feature=feature,
                               material=material, type=ptype.name, finish=finish)
    return " ".join(text.split())


def _description(rng: random.Random, dept: Department, ptype: ProductType, brand: str, feature: str,
                 material: str, finish: str) -> str:
    sentences = [f"The {brand} {ptype.name.lower()} {rng.choice(BENEFITS)}.",
                 f"Made of {material.lower()} with a {finish.lower()} look and a {feature.lower()} design.",
                 f"Ideal for {rng.choice(dept.uses)}."]
    if rng.random() < 0.3:
        sentences.append(f"Also known as a {rng.choice(ptype.synonyms)}.")
    return " ".join(sentences)


def _catalogue(rng: random.Random, n_products: int) -> _Catalogue:
    types = [(dept, ptype) for dept in DEPARTMENTS for ptype in dept.types]
    rows, type_of, sizes = [], [], []
    facets: dict[str, list[str]] = {f: [] for f in FACETS}
    for i in range(n_products):
        t = i % len(types) if i < len(types) else rng.randrange(len(types))
        dept, ptype = types[t]
        brand, line = rng.choice(dept.brands), rng.choice(LINES)
        size, feature = rng.choice(dept.sizes), rng.choice(dept.features)
        material, finish = rng.choice(dept.materials), rng.choice(dept.finishes)
        title = _title(dept, ptype, brand, line, size.title, feature, material, finish)
        if rng.random() < 0.3:
            title = f"{title} {_model_number(rng)}"
        attributes = (f"Brand {brand} Product Type {ptype.name} Size {size.title} Color/Finish {finish} "
                      f"Material {material} Features {feature}")
        rows.append((str(100001 + i), title, _description(rng, dept, ptype, brand, feature, material, finish),
                     attributes, brand, dept.name))
        type_of.append(t)
        sizes.append(size)
        for name, value in zip(FACETS, (brand, size.title, finish, feature)):
            facets[name].append(value)
    frame = pd.DataFrame(rows, columns=["product_id", "product_title", "product_description", "attributes", "brand",
                                        "category"])
    return _Catalogue(types, np.asarray(type_of), {k: np.asarray(v, dtype=object) for k, v in facets.items()},
                      sizes, frame)


def _misspell(rng: random.Random, word: str) -> str:
    """One typo: a dropped, doubled or swapped letter, or a wrong vowel."""
    if len(word) < 5 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    vowels = "aeiou"
    return word[:i] + rng.choice([v for v in vowels if v != word[i]]) + word[i + 1:]


def _query_text(rng: random.Random, cat: _Catalogue, product: int, shape: tuple[str, ...]) -> str:
    _dept, ptype = cat.types[cat.type_of[product]]
    type_words = rng.choice(ptype.synonyms) if rng.random() < SYNONYM_RATE else ptype.name.lower()
    parts = []
    for facet in shape:
        if facet == "size":
            parts.append(rng.choice(cat.sizes[product].queries))
        else:
            parts.append(str(cat.facets[facet][product]).lower())
    words = " ".join([*parts, type_words]).split()
    if rng.random() < MISSPELL_RATE:
        candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if candidates:
            i = rng.choice(candidates)
            words[i] = _misspell(rng, words[i])
    return " ".join(words)


def _judgments(rng: random.Random, cat: _Catalogue, product: int, shape: tuple[str, ...]) -> dict[int, int]:
    t = cat.type_of[product]
    dept = cat.types[t][0]
    same_type = cat.type_of == t
    full = same_type.copy()
    for facet in shape:
        full &= cat.facets[facet] == cat.facets[facet][product]
    related_types = [i for i, (d, _p) in enumerate(cat.types) if d is dept and i != t]
    pools = {2: np.flatnonzero(full), 1: np.flatnonzero(same_type & ~full),
             0: np.flatnonzero(np.isin(cat.type_of, related_types))}
    labels: dict[int, int] = {}
    for label, members in pools.items():
        chosen = rng.sample(members.tolist(), min(POOL_CAPS[label], len(members)))
        labels.update((int(p), label) for p in chosen if rng.random() >= UNJUDGED_POOL_RATE)
    labels[product] = 2
    return labels


def generate_demo(seed: int = 13, n_products: int = 3000, n_queries: int = 300) -> Dataset:
    """A deterministic demo catalogue of ``n_products`` products and ``n_queries`` distinct queries."""
    if n_products < 1 or n_queries < 1:
        raise LabError(f"the demo needs at least one product and one query (got {n_products}, {n_queries})")
    rng = random.Random(seed)
    cat = _catalogue(rng, n_products)
    shapes, weights = zip(*QUERY_SHAPES)
    queries, qrels, seen = [], [], set()
    for _attempt in range(n_queries * 20):
        if len(queries) == n_queries:
            break
        product = rng.randrange(n_products)
        shape = rng.choices(shapes, weights)[0]
        text = _query_text(rng, cat, product, shape)
        qid = query_id_for(text)
        if qid in seen:
            continue
        seen.add(qid)
        queries.append((qid, text, split_of(qid)))
        if rng.random() >= UNJUDGED_QUERY_RATE:
            pids = cat.frame["product_id"]
            qrels.extend((qid, pids.iat[p], label) for p, label in sorted(_judgments(rng, cat, product, shape).items()))
    query_frame = pd.DataFrame(queries, columns=["query_id", "query_text", "split"])
    qrel_frame = pd.DataFrame(qrels, columns=["query_id", "product_id", "relevance"])
    qrel_frame["raw_relevance"] = np.nan
    dataset = Dataset("demo", cat.frame, query_frame, qrel_frame, {
        "source": {"kind": "demo", "seed": seed, "n_products": n_products, "n_queries": n_queries},
        "files": {},
        "label_map": {"name": "demo", "rule": "2 = type and every queried facet match, 1 = type matches, "
                                              "0 = related type (same department)"},
        "duplicates": {},
        "created": datetime.now(timezone.utc).isoformat(),
    })
    dataset.meta["counts"] = dataset.counts()
    return dataset

"""Why a strategy ranks what it ranks: the hits of one query with their score explanations, from
the embedded engine or from OpenSearch's ``_explain`` (hybrid queries: ``hybrid_score_explanation``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from ..context import Lab
from ..errors import LabError
from ..runner import check_models, render_queries
from ..templates import Template

BM25_TERM = re.compile(r"^weight\((?P<field>[^:]+):(?P<term>.+?) in \d+\)")
RANK_DEPTH = 100
"""Hits searched, so that a document asked for with ``doc_ids`` gets its rank when it is in the top 100."""
KNN = re.compile(r"within top (?P<k>\d+) docs(?: of \w*Knn\w*\[(?P<field>[^,\]]+))?|knn search", re.IGNORECASE)


@dataclass
class ExplainedHit:
    """One hit: where it ranks, its score, its judged label for this query text (if any) and why."""

    rank: int | None
    product_id: str
    title: str
    score: float | None
    label: int | None
    explanation: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "product_id": self.product_id, "title": self.title, "score": self.score,
                "label": self.label, "explanation": self.explanation}


def explain_query(lab: Lab, template: Template, query_text: str, overrides: dict[str, Any] | None = None,
                  top: int = 5, doc_ids: list[str] | None = None) -> list[ExplainedHit]:
    """The top ``top`` hits of ``template`` for ``query_text`` (plus any ``doc_ids`` asked for, ranked or
    not), each with the backend's explanation of its score."""
    if not query_text.strip():
        raise LabError("--query: give the query text to explain")
    if top < 0:
        raise LabError(f"--top must be 0 or more, got {top}")
    params = template.resolve_params(overrides)
    models = template.models(params)
    check_models(lab, template, models)
    bodies, pipeline = render_queries(lab, template, params, [query_text], max(top, RANK_DEPTH))
    body = bodies[0]
    result = lab.backend.search_batch(lab.index_name, [body], pipeline, strategy=template.name)[0]
    dataset = lab.dataset
    titles = dict(zip(dataset.products["product_id"], dataset.products["product_title"].fillna("")))
    labels = judged_labels(dataset, query_text)
    ranked = {h.doc_id: (rank, h.score) for rank, h in enumerate(result.hits, 1)}
    wanted = [h.doc_id for h in result.hits[:top]]
    for doc_id in doc_ids or []:
        if doc_id not in titles:
            raise LabError(f"--doc {doc_id}: no such product in dataset '{dataset.name}'")
        if doc_id not in wanted:
            wanted.append(doc_id)
    explained = []
    for doc_id in wanted:
        rank, score = ranked.get(doc_id, (None, None))
        tree = lab.backend.explain(lab.index_name, body, doc_id, pipeline)
        explained.append(ExplainedHit(rank, doc_id, titles.get(doc_id, ""), score, labels.get(doc_id), tree))
    return explained


def judged_labels(dataset, query_text: str) -> dict[str, int]:
    """The judgments of the dataset query with exactly this text (none if it is not a judged query)."""
    same = dataset.queries.loc[dataset.queries["query_text"] == query_text, "query_id"]
    qrels = dataset.qrels[dataset.qrels["query_id"].isin(set(same))]
    return {pid: int(rel) for pid, rel in zip(qrels["product_id"], qrels["relevance"])}


@dataclass(frozen=True)
class Contribution:
    """A scoring clause of an explanation: BM25 of one term in one field, or a k-NN similarity."""

    kind: str
    field: str
    term: str | None
    value: float
    path: tuple[str, ...]


def contributions(tree: dict[str, Any]) -> list[Contribution]:
    """The leaf clauses (BM25 field:term weights, k-NN scores) of an explanation, with the path of
    combining nodes above them (sum, normalisation, fusion)."""
    return list(_walk(tree, ()))


def _walk(node: dict[str, Any], path: tuple[str, ...]) -> Iterator[Contribution]:
    description = str(node.get("description", ""))
    term = BM25_TERM.match(description)
    if term:
        yield Contribution("bm25", term["field"], term["term"], float(node["value"]), path)
        return
    knn = KNN.search(description)
    if knn:
        yield Contribution("knn", knn["field"] or "", None, float(node["value"]), path)
        return
    for child in node.get("details", []) or []:
        yield from _walk(child, (*path, f"{description} = {float(node['value']):.6g}"))

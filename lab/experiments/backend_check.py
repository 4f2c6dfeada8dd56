"""Every strategy on the embedded engine and on a cluster, side by side: quality, agreement and speed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..backends.base import Backend, Hit
from ..backends.check import BackendComparison, StrategyAgreement, agreement, check_backends
from ..errors import LabError
from ..evaluation.metrics import PRIMARY_METRIC
from ..progress import ProgressFactory
from ..runner import RunOutcome, execute_strategy, render_queries
from ..templates import Template

if TYPE_CHECKING:
    from ..context import Lab


@dataclass(frozen=True)
class StrategyCheck:
    """One strategy on both backends, or the reason it could not run on one of them."""

    strategy: str
    embedded_ndcg: float | None = None
    cluster_ndcg: float | None = None
    embedded_qps: float | None = None
    cluster_qps: float | None = None
    agreement: StrategyAgreement | None = None
    refused: str | None = None


def _hits(outcome: RunOutcome) -> dict[str, list[Hit]]:
    """{query id: hits in rank order} for every query of the run (an empty list where none matched)."""
    hits: dict[str, list[Hit]] = {str(qid): [] for qid in outcome.per_query.index}
    ranking = outcome.ranking.sort_values(["query_id", "rank"])
    for qid, doc, score in zip(ranking["query_id"], ranking["product_id"], ranking["score"]):
        hits[str(qid)].append(Hit(str(doc), float(score)))
    return hits


def check_strategies(lab: Lab, embedded: Backend, templates: list[Template], split: str = "test",
                     progress: ProgressFactory | None = None) -> list[StrategyCheck]:
    """Run each template over ``split`` on ``lab``'s cluster and on ``embedded`` (which should score as that
    cluster does, see :func:`lab.backends.check.embedded_like`) and compare the two runs."""
    local = dataclasses.replace(lab, backend=embedded)
    checks = []
    for template in templates:
        try:
            theirs = execute_strategy(lab, template, split, progress=progress)
        except LabError as exc:
            checks.append(StrategyCheck(template.name, refused=str(exc)))
            continue
        try:
            mine = execute_strategy(local, template, split, progress=progress)
        except LabError as exc:
            if embedded.name != "embedded":  # another cluster may lack what this one has
                checks.append(StrategyCheck(template.name, refused=f"{embedded.name}: {exc}"))
                continue
            raise LabError(f"the embedded side of the check: {exc} (without --backend)") from None
        checks.append(StrategyCheck(
            template.name, mine.manifest["metrics"][PRIMARY_METRIC], theirs.manifest["metrics"][PRIMARY_METRIC],
            mine.manifest["queries_per_second"], theirs.manifest["queries_per_second"],
            agreement(template.name, _hits(mine), _hits(theirs))))
    return checks


def check_queries(lab: Lab, other: Backend, template: Template, n_queries: int = 5, size: int = 10,
                  progress: ProgressFactory | None = None) -> BackendComparison:
    """The first ``n_queries`` test queries of ``template`` on ``other`` and on the lab's backend, rank by rank."""
    params = template.resolve_params()
    texts = lab.dataset.queries_for("test")["query_text"].head(n_queries).tolist()
    bodies, pipeline = render_queries(lab, template, params, texts, size, progress)
    return check_backends(other, lab.backend, lab.index_name, bodies, pipeline, labels=texts, strategy=template.name)

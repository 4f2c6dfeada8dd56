"""The embedded search engine: OpenSearch's index/search/explain API, in process, scoring as Lucene does.

``EmbeddedIndex.create(body)`` takes an OpenSearch create-index body; ``add`` indexes ``Documents``
(text, keyword, numeric and boolean columns plus knn_vector matrices); ``search``/``msearch`` take
OpenSearch search bodies (and optionally a search-pipeline body for hybrid queries) and return
OpenSearch-shaped responses; ``explain`` returns Lucene's explanation tree; ``save``/``load`` persist
the index as a directory.

Scores are Lucene's, bit for bit where Lucene's arithmetic is deterministic: BM25Similarity with
SmallFloat norms in float32, boosts propagated as ``createWeight`` does, Boolean/DisjunctionMax
sums in double rounded once, and the Lucene 10 query rewrites that change which partial sums are
rounded (one-clause collapse, duplicate-clause merging, flattening of nested disjunctions, inlining
of nested conjunctions). Query DSL supported: match, multi_match (best_fields, most_fields,
cross_fields), bool, dis_max, term, terms, range, exists, ids, constant_score, match_all,
match_none, knn (exact) and hybrid (fused by :mod:`lab.engine.pipelines`). Anything else is a
QueryError naming the clause.

Layers, as Lucene's packages (a module imports only from the layers before its own):

* building blocks: ``analysis``, ``smallfloat``, ``printed`` (float32 as Java prints it), ``explain``, ``similarity``, ``matches``, ``msm``,
  ``validation`` (request checks naming the clause path);
* index: ``mapping``, ``fields``, ``knn``, ``documents``, ``segment`` (storage and indexing),
  ``store`` (save/load);
* search: ``context`` (per-batch caches), ``nodes`` (query nodes), ``rewrite``, ``dsl``,
  ``pipelines``, ``search`` (plan and execute a request);
* API: ``index`` (:class:`EmbeddedIndex`) and ``trials`` (:class:`TrialSearcher`: the searches of tuning
  trials, clause matches shared between trials).

Known divergences
-----------------
* Target version. Scores are those of OpenSearch 3.x (Lucene 10): its default "BM25" is Lucene's
  BM25Similarity. OpenSearch 2.x's default is LegacyBM25Similarity (the same scorer created with
  ``boost * (1 + k1)``, so scores 2.2x higher, rounded differently, ranking unchanged); declare a
  similarity of type ``"LegacyBM25"`` (OpenSearch 3.x's name for it) to reproduce 2.x scores.
* Lucene 10 inlines a nested pure conjunction (``bool.must: [{bool: {must: [a, b]}}, c]``) into one
  double sum of a, b and c; Lucene 8/9 round ``a + b`` to float first. Such queries can differ from
  a Lucene 8/9 oracle by one float32 ulp. Everything else matches Lucene 8.7 exactly on the random
  query sweeps run while building the engine.
* ``hits.total`` is exact by default; OpenSearch stops counting at 10,000 (``track_total_hits``
  default) and reports ``"gte"``. An integer ``track_total_hits`` caps the count as OpenSearch does.
* k-NN is exact: OpenSearch's HNSW search is approximate, so its recall can be lower. Cosine
  similarity is one float32 dot product of unit-normalised vectors (BLAS order of additions):
  scores may differ from the k-NN plugin's in the last one or two float32 ulps. l2 candidates are
  ranked by ``|q|^2 + |d|^2 - 2 q.d`` and the best k + 16 rescored exactly, so a document whose
  distance ties the k-th within float32 rounding could be missed. Filtered k-NN is exact pre-filtering
  (as the Lucene engine with a restrictive filter); nmslib/faiss engine options are accepted and
  scored with the same formulas; radial search, ``method_parameters`` and ``rescore`` are rejected.
* One shard: ``number_of_shards`` must be 1 (term statistics are per shard in OpenSearch). Documents
  cannot be replaced or deleted (a duplicate id is a DataError): rebuild the index instead.
* Analysis: built-in analyzers only (see :mod:`lab.engine.analysis`); ``settings.analysis`` may only
  set the default analyzer to a built-in one. Keyword normalizers, ``copy_to``, mapping-level boosts,
  ``null_value``, date/geo/nested types are rejected.
* Errors where OpenSearch is lenient (asked for by the lab, to catch template mistakes): a field not
  in the mapping and an empty query text are QueryErrors (OpenSearch matches nothing);
  ``multi_match`` needs explicit ``fields`` (no ``index.query.default_field``), may not list a field
  twice, and ``cross_fields`` accepts only text and keyword fields.
* OpenSearch's optional query-builder rewriters (``search.query_rewriting.enabled``: must clauses on
  numeric ranges moved to filter, must_not ranges turned into should clauses, ...) are not emulated.
* Hybrid queries: the response and the fusion follow neural-search (each sub-query's top ``size``
  hits, or ``pagination_depth``; total = documents any sub-query matched); ``from`` requires
  ``pagination_depth``; a hybrid query must be the top-level query. Its explanation is the pipeline's
  normalisation/combination tree over the sub-queries' Lucene explanations, close to but not
  byte-identical with neural-search's ``hybrid_score_explanation``.
* Explanations: BM25, bool and dis_max nodes carry Lucene's descriptions; k-NN and constant-score
  descriptions are the engine's own wording. Values are float32 printed as Java prints them.
* ``_source``, ``timeout`` and ``_name`` are accepted and ignored (responses carry ids and scores only,
  no ``matched_queries``); ``max_score`` is null when ``size`` is 0.
"""

from __future__ import annotations

from .documents import Documents
from .index import EmbeddedIndex
from .trials import TrialSearcher

__all__ = ["Documents", "EmbeddedIndex", "TrialSearcher"]

"""Cross-encoder reranking: a reranker trained from the base model on the graded judgments
(``lab finetune --objective cross-encoder``), stored under ``<workspace>/rerankers/<name>``, and the ``rerank``
response processor of a template's search pipeline that reorders a first stage's top hits with it.

Modules: ``store`` (the model directory, its card and fingerprint), ``scores`` (the on-disk score cache),
``scorer`` (batched scoring, bf16, the cache), ``blend`` (the first stage blended back in), ``stage`` (the response
processor in a run), ``training``.
"""

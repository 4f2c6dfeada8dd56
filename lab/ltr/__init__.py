"""Learning to rank: feature sets (``features/<name>.json``), feature logs of a first stage's candidates, LambdaMART
models trained on them, the ``rerank`` second stage of a strategy and the export to OpenSearch's LTR plugin."""

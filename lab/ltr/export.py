"""`lab ltr export NAME`: a model and its feature set in the OpenSearch Learning to Rank plugin's formats.

- ``featureset.json``: the body of ``POST _ltr/_featureset/<set>``, each query feature a mustache template with
  ``{{keywords}}`` for the lab's ``{{query_text}}``;
- ``model.json``: the body of ``POST _ltr/_featureset/<set>/_createmodel``, type ``model/xgboost+json``, the
  definition XGBoost's JSON dump of the trees (``split`` names a feature, ``x < split_condition`` goes ``yes``);
- ``search-template.json``: the first-stage strategy with a ``rescore`` by ``sltr`` over the model's window
  (``query_weight`` 0, ``rescore_query_weight`` 1: the window ordered by the model's score alone, the hits below it
  after, as the lab's ``rerank`` stage).

Built-in features (cosine, query length, coverage...) are computed by the lab, not by a cluster: a model that uses
them is refused with their names (train one on a feature set of query features to deploy it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..context import Lab
from ..errors import LabError
from ..templates import template_named
from ..workspace import atomic_path, write_json
from .features import FeatureSet
from .store import ltr_dir
from .training import TrainedModel, current_feature_set, load_model

PLUGIN_PARAM = "keywords"
"""The sltr param that carries the query text (the plugin's documented name)."""
MODEL_TYPE = "model/xgboost+json"


@dataclass
class Export:
    """The files written and what to know about them."""

    files: list[Path]
    notes: list[str]


def plugin_feature_set(feature_set: FeatureSet) -> dict[str, Any]:
    """The body that creates ``feature_set`` in the plugin's feature store; LabError naming the built-ins, which
    the plugin cannot compute."""
    builtins = [f"{f.name} ({f.builtin})" for f in feature_set.features if f.template is None]
    if builtins:
        raise LabError(f"{feature_set.path}: built-in features {', '.join(builtins)} have no OpenSearch LTR plugin "
                       "form; train a model on a feature set of query features only to deploy it")
    features = [{"name": f.name, "params": [PLUGIN_PARAM], "template_language": "mustache",
                 "template": f.template.render({"query_text": "{{" + PLUGIN_PARAM + "}}"})[0]["query"]}
                for f in feature_set.features]
    return {"featureset": {"name": feature_set.name, "features": features}}


def plugin_model(model: TrainedModel) -> dict[str, Any]:
    """The body that uploads ``model`` under its name: the trees as XGBoost's JSON dump, one string."""
    trees = [json.loads(tree) for tree in model.booster.get_dump(dump_format="json")]
    return {"model": {"name": model.name, "model": {"type": MODEL_TYPE, "definition": json.dumps(trees)}}}


def rescore_template(body: dict[str, Any], model: str, window: int) -> dict[str, Any]:
    """``body`` (a search body, here still with ``{{query_text}}``) with the sltr rescore that reorders its top
    ``window`` hits by ``model``."""
    sltr = {"sltr": {"params": {PLUGIN_PARAM: "{{query_text}}"}, "model": model}}
    return {**body, "rescore": {"window_size": window, "query": {"rescore_query": sltr, "query_weight": 0.0,
                                                                "rescore_query_weight": 1.0}}}


def export_model(lab: Lab, name: str, out: Path | None = None) -> Export:
    """Write the feature set, the model and the rescoring search template of LTR model ``name`` to ``out``
    (default ``ltr/<dataset>/export/<name>``), replacing that folder whole."""
    model = load_model(lab, name)
    feature_set = current_feature_set(model.card["feature_set"], f"LTR model '{name}'")
    featureset_body = plugin_feature_set(feature_set)
    first_stage = template_named(lab.templates(), model.card["first_stage"]["name"])
    search = rescore_template(first_stage.body, name, model.card["depth"])
    target = Path(out) if out is not None else ltr_dir(lab, "export", name, option="LTR model")
    files = {"featureset.json": featureset_body, "model.json": plugin_model(model), "search-template.json": search}
    with atomic_path(target) as staged:
        staged.mkdir()
        for file, data in files.items():
            write_json(staged / file, data)
    notes = [f"PUT _ltr; POST _ltr/_featureset/{feature_set.name} with featureset.json; "
             f"POST _ltr/_featureset/{feature_set.name}/_createmodel with model.json",
             f"search-template.json is strategy '{first_stage.name}' with the sltr rescore (window "
             f"{model.card['depth']}); fill {{{{query_text}}}} and {{{{size}}}} as a search template would"]
    return Export([target / file for file in files], notes)

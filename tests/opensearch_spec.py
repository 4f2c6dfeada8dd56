"""Validate request bodies against the OpenSearch REST API specification (OpenAPI 3.1, YAML split by namespace).

The spec is read from $OPENSEARCH_API_SPEC (default ../shared/opensearch-api-spec beside the checkout); tests skip when it is
absent (and fail under CI=true). Files load lazily, only those the referenced schemas reach.
"""

from __future__ import annotations

import functools
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from ci_support import missing

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "shared" / "opensearch-api-spec"  # ../shared beside the checkout
SPEC_ROOT = Path(os.environ.get("OPENSEARCH_API_SPEC", DEFAULT_SPEC)) / "spec"


def spec_available() -> bool:
    return (SPEC_ROOT / "namespaces" / "indices.yaml").is_file()


def requires_spec(test):
    """Skip ``test`` where the spec is absent (fail it under CI=true)."""
    @functools.wraps(test)
    def checked(*args, **kwargs):
        if not spec_available():
            missing(f"OpenSearch API spec not found at {SPEC_ROOT} (set OPENSEARCH_API_SPEC)")
        return test(*args, **kwargs)
    return checked


@lru_cache(maxsize=1)
def _registry():
    import yaml
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    @lru_cache(maxsize=None)
    def retrieve(uri: str):
        path = Path(uri.removeprefix("file://"))
        return DRAFT202012.create_resource(yaml.load(path.read_text(encoding="utf-8"), Loader=loader))

    return Registry(retrieve=retrieve)


@lru_cache(maxsize=None)
def request_body_validator(namespace: str, operation: str):
    """The validator of ``operation``'s JSON request body, e.g. ("indices", "indices.create")."""
    from openapi_schema_validator import OAS31Validator

    uri = (SPEC_ROOT / "namespaces" / f"{namespace}.yaml").as_uri()
    schema = {"$ref": f"{uri}#/components/requestBodies/{operation}/content/application~1json/schema"}
    return OAS31Validator(schema, registry=_registry())


def spec_errors(namespace: str, operation: str, body: Any) -> list[str]:
    """Every spec violation of ``body``, as 'path: message' lines (empty when valid)."""
    validator = request_body_validator(namespace, operation)
    return [f"{'.'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
            for e in validator.iter_errors(body)]

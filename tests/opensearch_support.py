"""Test support for the OpenSearch backend: a local HTTP server that records what opensearch-py sends and
answers with OpenSearch response bodies, and a validator of requests and responses against OpenSearch's
published REST API specification (the vendored subset in tests/data/opensearch)."""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np
import pytest
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from lab.backends.base import Documents
from lab.backends.opensearch import OpenSearchBackend
from lab.backends.opensearch_client import RetryPolicy

DATA = Path(__file__).resolve().parent / "data" / "opensearch"
SPEC_URI = "urn:opensearch-api"


@dataclass
class Recorded:
    """One request as it reached the server."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[str]:
        """The raw lines of an NDJSON body (the exact bytes opensearch-py sent, minus the newlines)."""
        text = self.body.decode("utf-8")
        assert text.endswith("\n"), "an NDJSON body must end with a newline"
        return text[:-1].split("\n")

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.lines()]


@dataclass
class Reply:
    status: int
    body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def load_responses() -> dict[str, dict[str, Any]]:
    return json.loads((DATA / "responses.json").read_text(encoding="utf-8"))


RESPONSES = load_responses()


def canned(name: str) -> Reply:
    """A recorded OpenSearch response from tests/data/opensearch/responses.json."""
    entry = copy.deepcopy(RESPONSES[name])
    return Reply(entry["status"], entry.get("body"), entry.get("text"), entry.get("headers", {}))


Responder = Callable[[Recorded], Reply]


class RecordingServer:
    """An HTTP server on 127.0.0.1 (random port) that records every request and answers from routes.

    Routes are (method, path regex, responder); the last matching route added wins, so a test can
    override one endpoint of a working default cluster. Unrouted requests get a 400 and fail the test.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.routes: list[tuple[str, re.Pattern[str], Responder]] = []
        self.unrouted: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stalls

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Recorded(self.command, unquote(parts.path), dict(parse_qsl(parts.query, keep_blank_values=True)),
                                   {k.lower(): v for k, v in self.headers.items()}, body)
                reply = server.answer(request)
                payload = b"" if self.command == "HEAD" else (
                    reply.text.encode() if reply.text is not None else
                    b"" if reply.body is None else json.dumps(reply.body).encode())
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json; charset=UTF-8", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # keep-alive handler threads end with the test process
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, pattern: str, responder: Responder | Reply) -> None:
        handler = responder if callable(responder) else (lambda _request, reply=responder: copy.deepcopy(reply))
        self.routes.append((method, re.compile(pattern), handler))

    def answer(self, request: Recorded) -> Reply:
        with self.lock:
            self.requests.append(request)
            for method, pattern, responder in reversed(self.routes):
                if method == request.method and pattern.fullmatch(request.path):
                    return responder(request)
            self.unrouted.append(request)
        return Reply(400, {"error": f"no route for {request.method} {request.path}", "status": 400})

    def sent(self, method: str, pattern: str) -> list[Recorded]:
        """Recorded requests with this method whose path matches ``pattern``."""
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- OpenSearch-shaped bodies for the dynamic endpoints --------------------------------------------

def shards(total: int = 1) -> dict[str, int]:
    return {"total": total, "successful": total, "failed": 0}


def bulk_reply(failures: dict[str, Reply] | None = None) -> Responder:
    """A _bulk answer with one item per action; documents in ``failures`` get that status and error."""
    failures = failures or {}

    def respond(request: Recorded) -> Reply:
        index = request.path.strip("/").split("/")[0]
        lines = request.ndjson()
        items = []
        seq = 0
        errors = False
        for action in lines[::2]:
            op, meta = next(iter(action.items()))
            doc_id = meta["_id"]
            if doc_id in failures:
                failure = failures[doc_id]
                items.append({op: {"_index": index, "_id": doc_id, "status": failure.status,
                                   "error": failure.body["error"]}})
                errors = True
                continue
            items.append({op: {"_index": index, "_id": doc_id, "_version": 1,
                               "result": "created" if op == "index" else "updated", "_shards": shards(),
                               "_seq_no": seq, "_primary_term": 1, "status": 201 if op == "index" else 200}})
            seq += 1
        return Reply(200, {"took": 30, "errors": errors, "items": items})
    return respond


def search_response(hits: list[tuple[str, float]], index: str, total: int | None = None) -> dict[str, Any]:
    """A _search response body with these (id, score) hits."""
    return {"took": 3, "timed_out": False, "_shards": {**shards(), "skipped": 0},
            "hits": {"total": {"value": len(hits) if total is None else total, "relation": "eq"},
                     "max_score": max((s for _, s in hits), default=None),
                     "hits": [{"_index": index, "_id": doc_id, "_score": score} for doc_id, score in hits]}}


def msearch_reply(ranking: Callable[[dict[str, Any]], list[tuple[str, float]] | Reply], index: str) -> Responder:
    """A _msearch answer: ``ranking(body)`` gives each query's hits, or a Reply whose error is that item."""
    def respond(request: Recorded) -> Reply:
        lines = request.ndjson()
        responses = []
        for body in lines[1::2]:
            result = ranking(body)
            if isinstance(result, Reply):
                responses.append({**result.body, "status": result.status})
            else:
                responses.append({**search_response(result, index), "status": 200})
        return Reply(200, {"took": 5, "responses": responses})
    return respond


def ack(**extra: Any) -> Reply:
    return Reply(200, {"acknowledged": True, **extra})


def default_cluster(server: RecordingServer, *, version: str = "2.19.1", alias: str = "products",
                    existing: dict[str, dict[str, Any]] | None = None, doc_count: Callable[[], int] = lambda: 0,
                    plugins: str = "cat-plugins-2.19.1") -> None:
    """Routes for a healthy single-node cluster of ``version`` holding the indices in ``existing``
    (``{name: {"aliases": {...}}}``)."""
    existing = existing if existing is not None else {}
    server.route("GET", "/", canned(f"info-{version}"))
    server.route("GET", "/_cat/plugins", canned(plugins))
    server.route("GET", rf"/{re.escape(alias)}-v\*/_alias", lambda r: Reply(200, copy.deepcopy(existing)))
    aliased = {name for name, entry in existing.items() if alias in entry.get("aliases", {})}
    server.route("HEAD", rf"/{re.escape(alias)}", Reply(200 if aliased else 404))
    server.route("PUT", r"/[^/_][^/]*", lambda r: ack(shards_acknowledged=True, index=r.path.strip("/")))
    server.route("POST", r"/[^/]+/_bulk", bulk_reply())
    server.route("PUT", r"/[^/]+/_settings", ack())
    server.route("POST", r"/[^/]+/_refresh", Reply(200, {"_shards": shards()}))
    server.route("POST", r"/[^/]+/_forcemerge", Reply(200, {"_shards": shards()}))
    for method in ("GET", "POST"):
        server.route(method, r"/[^/]+/_count", lambda r: Reply(200, {"count": doc_count(), "_shards": {**shards(), "skipped": 0}}))
    server.route("POST", "/_aliases", ack())
    server.route("DELETE", r"/[^/]+", ack())
    server.route("PUT", r"/_search/pipeline/[^/]+", ack())


# --- the specification --------------------------------------------------------------------------

def _apply_gaps(bundle: dict[str, Any]) -> None:
    """Patch what the published specification lacks but OpenSearch accepts (each gap cites its evidence)."""
    schemas = bundle["components"]["schemas"]
    for gap in json.loads((DATA / "spec-gaps.json").read_text(encoding="utf-8")):
        schema = schemas[gap["schema"]]
        for key, items in gap.get("append", {}).items():
            schema[key] = schema.get(key, []) + items
        for key, value in gap.get("merge", {}).items():
            schema[key] = {**schema.get(key, {}), **value}


def _walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _make_strict(bundle: dict[str, Any]) -> None:
    """Forbid properties the specification does not declare (it leaves objects open by default).

    ``unevaluatedProperties: false`` goes on every object schema with declared properties, except where
    an ``allOf`` merges several schemas for one value: its members (inline, with everything inside them,
    or referenced components) stay open and the ``allOf`` itself is closed instead.
    """
    schemas = bundle["components"]["schemas"]
    exempt: set[int] = set()
    member_refs: set[str] = set()

    def collect(node: dict[str, Any]) -> None:
        for member in node.get("allOf", []):
            if "$ref" in member:
                member_refs.add(member["$ref"].rsplit("/", 1)[-1])
            else:
                _walk(member, lambda inner: exempt.add(id(inner)))

    _walk(bundle, collect)
    pending = list(member_refs)
    while pending:  # a component used as a member may reach further members through its own allOf
        for member in schemas.get(pending.pop(), {}).get("allOf", []):
            if "$ref" in member and (ref := member["$ref"].rsplit("/", 1)[-1]) not in member_refs:
                member_refs.add(ref)
                pending.append(ref)
    exempt |= {id(schemas[name]) for name in member_refs if name in schemas}

    def tighten(node: dict[str, Any]) -> None:
        if id(node) not in exempt and ("properties" in node or "allOf" in node) and not {
                "additionalProperties", "patternProperties", "unevaluatedProperties"} & node.keys():
            node["unevaluatedProperties"] = False

    _walk(bundle["components"], tighten)


class OpenSearchSpec:
    """Validates recorded requests (path, method, query parameters, body) and canned responses."""

    def __init__(self, strict: bool = True) -> None:
        bundle = json.loads((DATA / "openapi-subset.json").read_text(encoding="utf-8"))
        _apply_gaps(bundle)
        if strict:
            _make_strict(bundle)
        self.bundle = bundle
        self.registry = Registry().with_resource(SPEC_URI, Resource(contents=bundle, specification=DRAFT202012))
        self.routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route) + "$"), route, item)
                       for route, item in bundle["paths"].items()]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            kind, name = node["$ref"].split("/")[-2:]
            node = self.bundle["components"][kind][name]
        return node

    def _errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = OAS31Validator(schema, registry=self.registry)
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
                for e in validator.iter_errors(instance)]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        """The specification's operation for a request (the most literal route that matches)."""
        candidates = [(route.count("{"), route, item[method.lower()]) for pattern, route, item in self.routes
                      if pattern.match(path) and method.lower() in item]
        if not candidates:
            raise AssertionError(f"{method} {path} is not an operation of the OpenSearch API specification")
        _, route, op = min(candidates, key=lambda c: c[0])
        return route, op

    def request_errors(self, request: Recorded) -> list[str]:
        route, op = self.operation(request.method, request.path)
        where = f"{request.method} {route}"
        errors = []
        params = {p["name"]: p for p in map(self._resolve, op.get("parameters", [])) if p["in"] == "query"}
        for name, value in request.query.items():
            if name not in params:
                errors.append(f"{where}: query parameter '{name}' is not in the specification")
                continue
            schema = {"$ref": f"{SPEC_URI}#/components/parameters/{self._param_key(op, name)}/schema"}
            candidates = [value]
            with_json = _maybe_json(value)
            if with_json is not None:
                candidates.append(with_json)
            if all(self._errors(schema, c) for c in candidates):
                errors.append(f"{where}: query parameter {name}={value!r} does not match its schema")
        body_spec = self._resolve(op["requestBody"]) if "requestBody" in op else None
        if not request.body:
            if body_spec and body_spec.get("required"):
                errors.append(f"{where}: a body is required")
            return errors
        if body_spec is None:
            return errors + [f"{where}: the operation takes no body"]
        content = body_spec["content"]
        kind = "application/x-ndjson" if "application/x-ndjson" in content else "application/json"
        instance = request.ndjson() if kind == "application/x-ndjson" else request.json()
        pointer = self._pointer(op["requestBody"], route, request.method) + f"/content/{kind.replace('/', '~1')}/schema"
        return errors + [f"{where} body {e}" for e in self._errors({"$ref": pointer}, instance)]

    def _param_key(self, op: dict[str, Any], name: str) -> str:
        for param in op.get("parameters", []):
            key = param["$ref"].rsplit("/", 1)[-1]
            if self._resolve(param)["name"] == name and self._resolve(param)["in"] == "query":
                return key
        raise KeyError(name)

    def _pointer(self, node: dict[str, Any], route: str, method: str) -> str:
        if "$ref" in node:
            return SPEC_URI + node["$ref"]
        escaped = route.replace("~", "~0").replace("/", "~1")
        return f"{SPEC_URI}#/paths/{escaped}/{method.lower()}/requestBody"

    def response_errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        route, op = self.operation(method, path)
        responses = op.get("responses", {})
        if str(status) not in responses:
            return [] if status >= 400 else [f"{method} {route}: status {status} is not documented"]
        response = self._resolve(responses[str(status)])
        content = response.get("content", {})
        if "application/json" not in content:
            return []
        key = responses[str(status)]["$ref"].rsplit("/", 1)[-1]
        pointer = f"{SPEC_URI}#/components/responses/{key}/content/application~1json/schema"
        return [f"{method} {route} → {status}: {e}" for e in self._errors({"$ref": pointer}, body)]


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None


@pytest.fixture(scope="module")
def spec() -> OpenSearchSpec:
    return OpenSearchSpec()


@pytest.fixture
def server(spec: OpenSearchSpec):
    """A recording server; after the test, every request it got must be an operation of the specification."""
    with RecordingServer() as srv:
        yield srv
    assert srv.unrouted == []
    assert [e for request in srv.requests for e in spec.request_errors(request)] == []


# --- sample index, documents and queries (shaped like mappings/products.json and queries/*.json) ----

FAST = RetryPolicy(retries=3, initial=0.001, maximum=0.01)
KNN = {"type": "knn_vector", "dimension": 3,
       "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil",
                  "parameters": {"m": 16, "ef_construction": 100}}}
INDEX_BODY = {
    "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0,
                           "similarity": {"default": {"type": "BM25"}}}},
    "mappings": {"_meta": {"relevance_lab": {"model_template": "finetuned"}},
                 "properties": {"product_title": {"type": "text", "analyzer": "english"},
                                "brand": {"type": "keyword"},
                                "title_vector_minilm": KNN}},
}
DOCS = Documents(
    ["100001", "100002", "100003"],
    {"product_title": ["Simpson Strong-Tie 12-Gauge Angle", "BEHR Premium Textured DeckOver", None],
     "brand": ["Simpson Strong-Tie", None, "Delta"]},
    {"title_vector_minilm": np.array([[0.1, -0.25, 1e-05], [np.nan] * 3, [0.5, 0.5, -0.75]], dtype=np.float32)},
)
MINMAX = {"description": "min_max normalisation, weighted arithmetic mean",
          "phase_results_processors": [{"normalization-processor": {
              "normalization": {"technique": "min_max"},
              "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.3, 0.7]}}}}]}
HEADER = '{"index":"products"}'
RRF = {"phase_results_processors": [{"score-ranker-processor": {"combination": {"technique": "rrf",
                                                                               "rank_constant": 60}}}]}


def bm25(text: str, size: int = 3) -> dict:
    return {"size": size, "query": {"match": {"product_title": {"query": text, "boost": 8}}}}


def hybrid(text: str, size: int = 3) -> dict:
    return {"size": size, "query": {"hybrid": {"queries": [
        {"match": {"product_title": {"query": text}}},
        {"knn": {"title_vector_minilm": {"vector": [0.1, 0.2, 0.3], "k": 10}}}]}}}


def connect(server: RecordingServer, **options: Any) -> OpenSearchBackend:
    """The backend connected to ``server``, with near-instant retries."""
    return OpenSearchBackend.connect(server.url, retry_policy=FAST, **options)


def route_shards(server: RecordingServer, alias: str = "products", concrete: str = "products-v1", shards: int = 1) -> None:
    """Answer the backend's lookup of the shard count behind ``alias``."""
    server.route("GET", f"/{re.escape(alias)}/_settings/index.number_of_shards",
                 Reply(200, {concrete: {"settings": {"index": {"number_of_shards": str(shards)}}}}))

"""The connection to an Elasticsearch cluster: client, credentials, version, capabilities, one-line errors."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from elastic_transport import ConnectionError as ClientConnectionError
from elastic_transport import ConnectionTimeout, TlsError
from elasticsearch import ApiError, AuthorizationException, Elasticsearch, TransportError, UnsupportedProductError

from ..errors import LabError
from .cluster_errors import Failure, Product, connection_reason, request_error
from .opensearch_client import RetryPolicy, Version, error_reason

USER_ENV = "ELASTICSEARCH_USER"
PASSWORD_ENV = "ELASTICSEARCH_PASSWORD"
API_KEY_ENV = "ELASTICSEARCH_API_KEY"
RETRY_STATUSES = (429, 502, 503, 504)
MIN_VERSION = Version(8, 15)
"""The first Elasticsearch whose ``knn`` query takes ``k`` (and whose index sorting accepts dense_vector)."""


@dataclass(frozen=True)
class Endpoint:
    """A cluster URL and the credentials that are sent, never printed nor recorded."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, user: str | None = None, password: str | None = None,
              api_key: str | None = None) -> Endpoint:
        """Credentials from the arguments, else the URL's user:pass@, else $ELASTICSEARCH_USER/_PASSWORD or
        $ELASTICSEARCH_API_KEY."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LabError("Elasticsearch URL must look like http://host:9200 or https://host:9200")
        if user is None and parts.username:
            user, password = unquote(parts.username), unquote(parts.password or "") or password
        user = user or os.environ.get(USER_ENV) or None
        password = password if password is not None else os.environ.get(PASSWORD_ENV)
        api_key = api_key or os.environ.get(API_KEY_ENV) or None
        if user and password is None:
            raise LabError(f"Elasticsearch user '{user}' needs a password: --password or ${PASSWORD_ENV}")
        netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return cls(clean, user, password, api_key)


@dataclass(frozen=True)
class ClusterInfo:
    """What the cluster says about itself: the oldest node's version, and the Lucene version where ``GET /``
    tells it."""

    version: Version
    number: str
    lucene_version: str | None


def make_client(endpoint: Endpoint, *, ca_certs: str | None, verify_certs: bool, timeout: float,
                pool_size: int, retry_policy: RetryPolicy) -> Elasticsearch:
    """The official client for ``endpoint`` (429 and 5xx retried by the transport)."""
    options: dict[str, Any] = {"request_timeout": timeout, "max_retries": retry_policy.retries,
                               "retry_on_status": RETRY_STATUSES, "connections_per_node": pool_size}
    if endpoint.api_key:
        options["api_key"] = endpoint.api_key
    elif endpoint.user:
        options["basic_auth"] = (endpoint.user, endpoint.password)
    if endpoint.url.startswith("https:"):
        options.update(verify_certs=verify_certs, ssl_show_warn=verify_certs, ca_certs=ca_certs)
    return Elasticsearch(endpoint.url, **options)


def read_cluster(client: Elasticsearch, endpoint: Endpoint) -> ClusterInfo:
    """The oldest node's version from ``_nodes`` (minimal distributions do not serve ``GET /``); ``GET /``, which
    also tells the Lucene version, when the nodes API is forbidden."""
    try:
        try:
            nodes = client.nodes.info(metric="plugins").body["nodes"].values()
        except AuthorizationException:
            info = client.info().body
            number = info["version"]["number"]
            return ClusterInfo(Version.parse(number), number, info["version"].get("lucene_version"))
    except UnsupportedProductError:
        raise LabError(f"{endpoint.url} is not Elasticsearch (for OpenSearch use --backend opensearch)") from None
    except (ApiError, TransportError) as exc:
        raise lab_error(exc, f"connecting to {endpoint.url}", endpoint.url) from None
    if not nodes:
        raise LabError(f"{endpoint.url} reports no nodes")
    oldest = min(nodes, key=lambda n: Version.parse(n["version"]))
    version = Version.parse(oldest["version"])
    if version < MIN_VERSION:
        raise LabError(f"Elasticsearch {oldest['version']} at {endpoint.url} is too old: the lab needs "
                       f"{MIN_VERSION.major}.{MIN_VERSION.minor} or newer (knn query with k)")
    return ClusterInfo(version, oldest["version"], None)


PRODUCT = Product("Elasticsearch", "elasticsearch",
                  f"--user/--password, ${USER_ENV}/${PASSWORD_ENV} or ${API_KEY_ENV}")


def lab_error(exc: Exception, action: str, url: str, *, timeout: float | None = None,
              index: str | None = None) -> LabError:
    """One clear line for a failed request (see :func:`request_error`)."""
    if isinstance(exc, ApiError):
        failure: Failure = {401: "unauthenticated", 403: "forbidden"}.get(exc.meta.status, "answered")
        if exc.message == "index_not_found_exception":
            failure = "missing_index"
        return request_error(PRODUCT, failure, action, url, reason=error_reason(exc.body, exc.message),
                             status=exc.meta.status, timeout=timeout, index=index)
    failure = ("timeout" if isinstance(exc, ConnectionTimeout) else "tls" if isinstance(exc, TlsError)
               else "unreachable" if isinstance(exc, ClientConnectionError) else "answered")
    if failure == "answered":
        return LabError(f"{action}: {type(exc).__name__}: {exc}")
    return request_error(PRODUCT, failure, action, url, reason=connection_reason(str(exc), type(exc).__name__),
                         timeout=timeout)

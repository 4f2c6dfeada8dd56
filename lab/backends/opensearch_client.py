"""The connection to an OpenSearch cluster: client, credentials, version, retries and one-line errors."""

from __future__ import annotations

import os
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from opensearchpy import OpenSearch, Transport, __versionstr__ as CLIENT_VERSION
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    ConnectionError as ClientConnectionError,
    ConnectionTimeout,
    SSLError,
    TransportError,
)

from ..errors import LabError
from .cluster_errors import Failure, Product, connection_reason, request_error

USER_ENV = "OPENSEARCH_USER"
PASSWORD_ENV = "OPENSEARCH_PASSWORD"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_REASON = 400
MIN_CLIENT = "2.6"
"""The first opensearch-py with ``client.search_pipeline`` (2.5 only took a pipeline name on ``search``)."""


class OpenSearchBackendWarning(UserWarning):
    """A setting that works but weakens security (unverified TLS) or fidelity (several shards)."""


@dataclass(frozen=True, order=True)
class Version:
    """A cluster version, compared numerically (``3.0.0-alpha1`` counts as 3.0.0)."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Version:
        match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
        if not match:
            raise LabError(f"cannot read the cluster version '{text}'")
        return cls(int(match[1]), int(match[2]), int(match[3] or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class ClusterInfo:
    """What the cluster says about itself: distribution, version, Lucene version and plugins."""

    distribution: str
    version: Version
    number: str
    lucene_version: str | None
    plugins: frozenset[str] | None
    """Plugin components (``opensearch-knn``...), or None when ``_cat/plugins`` is not readable."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for answers that say "try again" (429, 502, 503, 504)."""

    retries: int = 5
    initial: float = 0.5
    maximum: float = 8.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return min(self.maximum, self.initial * 2 ** attempt)


class BackoffTransport(Transport):
    """opensearch-py's transport, retrying 429 and 5xx answers with exponential backoff.

    The stock transport retries 502/503/504 immediately and never retries 429; a loaded cluster
    needs time, so every retry here waits ``RetryPolicy.delay``. A 429 on ``_bulk`` is left to
    ``helpers.streaming_bulk``, which retries it (and single rejected documents) with the same backoff.
    """

    def __init__(self, hosts: Any, *, retry_policy: RetryPolicy = RetryPolicy(), **kwargs: Any) -> None:
        kwargs["max_retries"] = 0
        super().__init__(hosts, **kwargs)
        self.retry_policy = retry_policy

    def perform_request(self, method: str, url: str, params: Any = None, body: Any = None,
                        timeout: Any = None, ignore: Any = (), headers: Any = None) -> Any:
        policy = self.retry_policy
        for attempt in range(policy.retries + 1):
            try:
                return super().perform_request(method, url, params=params, body=body, timeout=timeout,
                                               ignore=ignore, headers=headers)
            except TransportError as exc:
                bulk_rejection = exc.status_code == 429 and url.endswith("/_bulk")
                if attempt == policy.retries or exc.status_code not in RETRY_STATUSES or bulk_rejection:
                    raise
                time.sleep(policy.delay(attempt))
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class Endpoint:
    """A cluster URL split into the part that may be printed and the credentials that may not."""

    url: str
    user: str | None
    password: str | None = field(repr=False)

    @classmethod
    def parse(cls, url: str, user: str | None = None, password: str | None = None) -> Endpoint:
        """Credentials come from the arguments, else the URL, else $OPENSEARCH_USER/$OPENSEARCH_PASSWORD."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LabError(f"OpenSearch URL must look like http://host:9200 or https://host:9200, not '{_safe(url)}'")
        if user is None and parts.username:
            user, password = unquote(parts.username), unquote(parts.password or "") or password
        user = user or os.environ.get(USER_ENV) or None
        if password is None:
            password = os.environ.get(PASSWORD_ENV)
        if user and password is None:
            raise LabError(f"OpenSearch user '{user}' needs a password: --password or ${PASSWORD_ENV}")
        netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        if ":" in parts.hostname:  # IPv6 literal
            netloc = f"[{parts.hostname}]" + ("" if parts.port is None else f":{parts.port}")
        clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return cls(clean, user, password)


def _safe(url: str) -> str:
    """``url`` with any user:password@ removed, for messages."""
    return re.sub(r"//[^/@]*@", "//", url)


def make_client(endpoint: Endpoint, *, ca_certs: str | None, verify_certs: bool, timeout: float,
                pool_size: int, retry_policy: RetryPolicy) -> OpenSearch:
    """An opensearch-py client for ``endpoint``; warns once when certificates are not verified."""
    tls = endpoint.url.startswith("https:")
    if tls and not verify_certs:
        warnings.warn(f"TLS certificates of {endpoint.url} are not verified (--no-verify-certs): "
                      "anyone on the network path can read or alter the traffic; use it only for a test cluster",
                      OpenSearchBackendWarning, stacklevel=3)
        import urllib3

        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    options: dict[str, Any] = {
        "hosts": [endpoint.url],
        "timeout": timeout,
        "transport_class": BackoffTransport,
        "retry_policy": retry_policy,
        "pool_maxsize": pool_size,
    }
    if endpoint.user:
        options["http_auth"] = (endpoint.user, endpoint.password)
    if tls:
        options.update(verify_certs=verify_certs, ssl_show_warn=verify_certs, ca_certs=ca_certs)
    client = OpenSearch(**options)
    if not hasattr(client, "search_pipeline"):
        raise LabError(f"opensearch-py {CLIENT_VERSION} is installed, but relevance-lab needs opensearch-py>="
                       f"{MIN_CLIENT} (client.search_pipeline): pip install 'opensearch-py>={MIN_CLIENT}'")
    return client


def read_cluster(client: OpenSearch, endpoint: Endpoint) -> ClusterInfo:
    """Ask the cluster who it is; refuse anything that is not OpenSearch."""
    try:
        info = client.info()
    except TransportError as exc:
        raise lab_error(exc, f"connecting to {endpoint.url}", endpoint.url) from None
    version = info.get("version", {}) if isinstance(info, dict) else {}
    number = str(version.get("number", ""))
    distribution = version.get("distribution")
    if distribution != "opensearch":
        reported = (f"Elasticsearch {number}" if distribution is None and number
                    else f"{distribution} {number}".strip() if distribution else "no version")
        raise LabError(f"{endpoint.url} is not OpenSearch (it reports {reported}): the opensearch backend needs an "
                       "OpenSearch cluster (`scripts/opensearch-local start` runs one)")
    return ClusterInfo("opensearch", Version.parse(number), number, version.get("lucene_version"),
                       _plugins(client))


def _plugins(client: OpenSearch) -> frozenset[str] | None:
    try:
        rows = client.cat.plugins(format="json")
    except TransportError:  # e.g. 403 for a user without monitor rights: plugin checks are then skipped
        return None
    return frozenset(row["component"] for row in rows if "component" in row)


def error_reason(info: Any, fallback: str = "") -> str:
    """``type: reason`` of an OpenSearch error body (with its first ``caused_by``), on one line."""
    error = info.get("error") if isinstance(info, dict) else None
    if isinstance(error, dict):
        root = (error.get("root_cause") or [error])[0]
        kind, reason = root.get("type", error.get("type")), root.get("reason", error.get("reason"))
        text = f"{kind}: {reason}" if reason is not None else str(kind)
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason") and cause["reason"] not in text:
            text += f" (caused by {cause.get('type')}: {cause['reason']})"
    elif isinstance(error, str):
        text = error
    elif isinstance(info, bytes) and info:
        text = info.decode("utf-8", "replace")
    elif isinstance(info, str) and info:
        text = info
    else:
        text = fallback
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


PRODUCT = Product("OpenSearch", "opensearch", f"--user/--password or ${USER_ENV}/${PASSWORD_ENV}")


def lab_error(exc: TransportError, action: str, url: str, *, timeout: float | None = None,
              index: str | None = None) -> LabError:
    """One clear line for a failed request (see :func:`request_error`)."""
    reason = error_reason(exc.info, str(exc.error))
    failure: Failure = "answered"
    if isinstance(exc, ConnectionTimeout):
        failure = "timeout"
    elif isinstance(exc, ClientConnectionError):  # SSLError is one too
        failure = "tls" if isinstance(exc, SSLError) else "unreachable"
        reason = connection_reason(str(exc.info), type(exc.info).__name__ if isinstance(exc.info, Exception)
                                   else str(exc.error))
    elif isinstance(exc, AuthenticationException):
        failure = "unauthenticated"
    elif isinstance(exc, AuthorizationException):
        failure = "forbidden"
    elif exc.error == "index_not_found_exception":
        failure = "missing_index"
    return request_error(PRODUCT, failure, action, url, reason=reason, status=exc.status_code, timeout=timeout,
                         index=index)

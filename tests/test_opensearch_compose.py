"""docker-compose.yml: the local cluster the README starts (no Docker engine here, so its content is checked)."""

from __future__ import annotations

import re

import pytest
import yaml

from lab.backends.opensearch_client import Version
from lab.context import REPO_ROOT


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def default(value: str) -> str:
    """``${NAME:-default}`` → default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_a_single_secured_off_node_of_a_recent_default_distribution(compose):
    node = compose["services"]["opensearch"]
    image, tag = default(node["image"]).split(":")
    assert image == "opensearchproject/opensearch" and Version.parse(tag) >= Version(2, 19)
    env = node["environment"]
    assert env["discovery.type"] == "single-node"
    assert env["DISABLE_SECURITY_PLUGIN"] == "true" and env["DISABLE_INSTALL_DEMO_CONFIG"] == "true"
    assert "${OPENSEARCH_HEAP:-1g}" in env["OPENSEARCH_JAVA_OPTS"]
    assert node["ports"] == ["127.0.0.1:9200:9200"]


def test_data_survives_in_a_named_volume_and_health_is_checked(compose):
    node = compose["services"]["opensearch"]
    volume, mount = node["volumes"][0].split(":")
    assert volume in compose["volumes"] and mount == "/usr/share/opensearch/data"
    assert "_cluster/health" in node["healthcheck"]["test"][1]


def test_dashboards_are_optional_and_match_the_node_version(compose):
    dashboards = compose["services"]["dashboards"]
    assert dashboards["profiles"] == ["dashboards"]
    assert dashboards["depends_on"]["opensearch"]["condition"] == "service_healthy"
    node_tag = compose["services"]["opensearch"]["image"].split(":", 1)[1]
    assert dashboards["image"].split(":", 1)[1] == node_tag

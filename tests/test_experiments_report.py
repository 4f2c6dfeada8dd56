"""`lab report`: one self-contained HTML page (leaderboard, metric means with confidence intervals,
significance, per-query wins/ties/losses, tuning, the fine-tuned model card, history), checked as HTML
and by rendering it in headless Chromium at 1280 and 1920 px (Debian's `chromium`; skipped with the
reason when it is absent)."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli import cli
from lab.context import Lab
from lab.errors import LabError
from lab.experiments.report import build_report
from lab.experiments.search_space import parse_dimension
from lab.experiments.tuning import tune_strategy
from lab.results import latest_runs
from lab.runner import run_strategy
from lab.templates import load_templates

from ci_support import missing
from demo_support import demo_lab

PNG = b"\x89PNG\r\n\x1a\n"
SECTIONS = {"leaderboard", "metrics", "significance", "per-query", "tuning", "finetune", "ltr", "history"}
LTR_CARD = {"name": "m1", "created": "2026-12-07T05:00:00+00:00", "feature_set": {"name": "homedepot"},
            "first_stage": {"path": "/x/queries/textsearch_boosted.json"}, "trees": 84, "train_seconds": 22.2,
            "val": {"first_stage": {"ndcg@10": 0.3865}, "reranked": {"ndcg@10": 0.4331}},
            "feature_importance_gain": {"title_coverage": 160.0, "title_bm25": 30.0, "query_words": 10.0}}
"""What `lab ltr train` leaves in ltr/<dataset>/models/<name>/card.json (the fields the report reads)."""


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    lab = demo_lab(tmp_path_factory.mktemp("ws"), seed=51, n_products=200, n_queries=200)
    templates = load_templates(lab.queries_dir)
    run_strategy(lab, templates["textsearch"])
    run_strategy(lab, templates["textsearch_boosted"])
    run_strategy(lab, templates["textsearch_boosted"], overrides={"title_boost": 2})  # a history of two runs
    template = templates["textsearch_boosted"]
    tune_strategy(lab, template, [parse_dimension("title_boost=1,4", template),
                                  parse_dimension("description_boost=1,2", template)])
    _finetune_output(lab.workspace / "models" / "ft-demo")
    (lab.workspace / "ltr" / "demo" / "models" / "m1").mkdir(parents=True)
    (lab.workspace / "ltr" / "demo" / "models" / "m1" / "card.json").write_text(json.dumps(LTR_CARD))
    return lab


VAL_BEFORE = {"ndcg@10": 0.41, "mrr@10": 0.52}
VAL_AFTER = {"ndcg@10": 0.47, "mrr@10": 0.5}
CARD = {"name": "ft-demo", "base_model": {"key": "minilm"},
        "config": {"objective": "pairs", "loss": "mnrl", "epochs": 3.0, "learning_rate": 5e-05},
        "data": {"train": {"split": "train", "queries": 61, "positive_pairs": 93},
                 "eval": {"split": "val", "queries": 7}},
        "training": {"steps": 120, "epochs": 3.0, "seconds": 95.2, "stopped_early": False}}


def _finetune_output(model: Path) -> None:
    """What `lab finetune` leaves in a model directory: its card, report/report.json and PNG plots."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    (model / "report").mkdir(parents=True)
    (model / "finetune.json").write_text(json.dumps(CARD))
    for name in ("training_curves.png", "metrics_before_after.png"):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1, 2], [0.41, 0.45, 0.47])
        fig.savefig(model / "report" / name)
        plt.close(fig)
    (model / "report" / "report.json").write_text(json.dumps({
        "name": "ft-demo", "base_model": "minilm", "split": "val", "queries": 7, "queries_improved": 4,
        "queries_worse": 2, "metrics": {"base": VAL_BEFORE, "finetuned": VAL_AFTER}}))


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append(attributes.get("id") or "")
        if tag in ("img", "script", "link", "iframe") and (attributes.get("src") or attributes.get("href")):
            target = attributes.get("src") or attributes.get("href") or ""
            (self.images if tag == "img" else self.links).append(target)


@pytest.fixture(scope="module")
def report(lab) -> Path:
    return build_report(lab)


def test_the_page_is_self_contained(lab, report):
    assert report == lab.workspace / "reports" / "demo-test.html"
    page = report.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(page)
    assert set(parser.sections) == SECTIONS
    assert not parser.links  # no scripts, stylesheets or frames to fetch
    assert len(parser.images) >= 5
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert not re.search(r"(src|href)=\"https?:", page)


def test_the_page_says_what_it_shows(lab, report):
    page = report.read_text(encoding="utf-8")
    assert "textsearch_boosted" in page and "95% t-interval" in page
    assert "paired t-test" in page and "α = 0.05" in page
    assert "4 trials (grid) on split tune" in page
    finetune_png = (lab.workspace / "models" / "ft-demo" / "report" / "training_curves.png").read_bytes()
    assert base64.b64encode(finetune_png).decode() in page
    assert lab.dataset.qrels_fingerprint() in page


def _rows(fragment: str) -> list[list[str]]:
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", fragment)]


def test_the_model_card_is_a_summary_with_the_rest_folded(report):
    page = report.read_text(encoding="utf-8")
    section = re.search(r"<section id=\"finetune\">(.*?)</section>", page)[1]
    shown, folded = section.split("<details>", 1)
    summary = dict(row for row in _rows(shown) if len(row) == 2)
    assert summary["model"] == CARD["name"] and summary["base"] == CARD["base_model"]["key"]
    assert CARD["config"]["objective"] in summary["objective"] and CARD["config"]["loss"] in summary["objective"]
    assert "positive pairs 93" in summary["train data"] and "queries 7" in summary["eval data"]
    assert f"{CARD['training']['steps']} steps" in summary["training"]
    assert "learning_rate" not in shown and "finetune.json: config.learning_rate" in folded
    table = {row[0]: row[1:] for row in _rows(shown) if len(row) == 4}
    assert table["val metric"] == ["base", "fine-tuned", "Δ"]
    for metric, before in VAL_BEFORE.items():
        after = VAL_AFTER[metric]
        assert table[metric] == [f"{before:.4f}", f"{after:.4f}", f"{after - before:+.4f}"]
    assert len(re.findall(r"<img ", section)) == 2 and "<div class=\"figures\">" in section


def test_cli_and_bad_input(lab, tmp_path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["--workspace", str(lab.workspace), "report", "--output", str(out),
                                      "--baseline", "textsearch"], obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Against the baseline textsearch" in out.read_text(encoding="utf-8")
    with pytest.raises(LabError, match="--baseline nope"):
        build_report(lab, baseline="nope")
    with pytest.raises(LabError, match="no runs of dataset 'demo' on split 'val'"):
        build_report(lab, split="val")


@pytest.mark.parametrize("plant", ["file", "folder"])
def test_symlinks_out_of_the_workspace_are_refused(lab, tmp_path, plant):
    secret = tmp_path / "outside" / "plot.png"
    secret.parent.mkdir()
    secret.write_text("password=hunter2\n")
    evil = lab.workspace / "models" / "evil"
    if plant == "file":
        evil.mkdir()
        (evil / "plot.png").symlink_to(secret)
        link = evil / "plot.png"
    else:
        evil.symlink_to(secret.parent, target_is_directory=True)
        link = evil
    try:
        with pytest.raises(LabError, match=rf"{re.escape(str(link))}: a symlink \(to {re.escape(str(secret.parent))}"):
            build_report(lab, output=tmp_path / "r.html")
        assert not (tmp_path / "r.html").exists()
    finally:
        link.unlink()
        shutil.rmtree(evil, ignore_errors=True)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        missing("chromium is not installed (Debian: apt-get install -y chromium); the report render check "
                "needs a headless browser")
    return found


WIDTHS = (1280, 1920)
HEIGHT = 1200
PROBE = """<script>
window.addEventListener('load', () => {
  const width = window.innerWidth;
  const name = e => (e.closest('section') || {}).id + ' ' + e.tagName.toLowerCase();
  const outside = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width);
  const cut = [...document.querySelectorAll('table')].filter(
    t => t.getBoundingClientRect().right > t.parentElement.getBoundingClientRect().right);
  const images = [...document.images];
  const history = [...document.querySelectorAll('#history th')].map(th => th.textContent.trim());
  document.title = JSON.stringify({
    width, scroll_width: document.documentElement.scrollWidth, outside: outside.slice(0, 5).map(name),
    cut_tables: cut.length, tables: document.querySelectorAll('table').length,
    images: images.length, decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    sections: document.querySelectorAll('section').length, history_headers: history});
});
</script>"""


def _render(chromium: str, page: Path, width: int, profile: Path, *options: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", "--hide-scrollbars",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000", f"--window-size={width},{HEIGHT}"]
    return subprocess.run([chromium, *flags, *options, page.as_uri()], capture_output=True, text=True,
                          timeout=120, check=False).stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_chromium_renders_the_page_within_the_window(report, tmp_path, width):
    chromium = _chromium()
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _render(chromium, probe, width, tmp_path / "profile", "--dump-dom")
    title = re.search(r"<title>(\{.*?\})</title>", dom)
    assert title, dom[:500]
    seen = json.loads(html.unescape(title[1]))
    assert seen["width"] == width
    assert seen["scroll_width"] <= width and not seen["outside"] and not seen["cut_tables"], seen
    assert seen["decoded"] == seen["images"] >= 5 and seen["sections"] == len(SECTIONS) and seen["tables"] >= 4
    assert len(seen["history_headers"]) >= 8 and all(seen["history_headers"]), seen["history_headers"]

    shot = tmp_path / f"page-{width}.png"
    _render(chromium, report, width, tmp_path / "profile", f"--screenshot={shot}")
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (HEIGHT, width)
    assert pixels[..., :3].std() > 0.05  # text, tables and plots, not a blank page


def test_the_figures_show_the_data(lab, monkeypatch):
    """The figures drawn for the report, caught before they become PNGs: intervals on an axis near the
    data, one chart of wins/ties/losses, whole-number run ticks."""
    from scipy.stats import t

    from lab.experiments import plots

    figures = []
    monkeypatch.setattr(plots, "figure_png", lambda fig: figures.append(fig) or PNG)
    build_report(lab, output=lab.workspace / "figures.html")
    intervals, wins, history = figures[0], figures[1], figures[-1]
    runs = latest_runs(lab.workspace, "demo", "test", lab.dataset.qrels_fingerprint())
    per_query = {r.strategy: r.per_query()["ndcg@10"] for r in runs}

    ax = next(a for a in intervals.axes if a.get_title() == "ndcg@10")
    values = list(per_query.values())
    half = [t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / len(v) ** 0.5 for v in values]
    low, high = min(v.mean() - h for v, h in zip(values, half)), max(v.mean() + h for v, h in zip(values, half))
    assert low - (high - low) < ax.get_xlim()[0] <= low and ax.get_xlim()[1] >= high
    assert {f"{v.mean():.3f}" for v in values} <= {text.get_text() for text in ax.texts}

    assert len(wins.axes) == 1
    best = min(runs, key=lambda r: (-r.metrics["ndcg@10"], r.strategy)).strategy  # the default baseline
    for name, values in per_query.items():
        if name != best:
            delta = values - per_query[best].reindex(values.index)
            counts = [int((delta > 0).sum()), int((delta == 0).sum()), int((delta < 0).sum())]
            label = next(tick for tick in wins.axes[0].get_yticklabels() if tick.get_text().startswith(name + " "))
            row = label.get_position()[1]
            bars = [p for p in wins.axes[0].patches if abs(p.get_y() + p.get_height() / 2 - row) < 1e-9]
            assert [round(p.get_width()) for p in bars] == counts

    (ax,) = history.axes
    shown = [x for x in ax.get_xticks() if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]]
    assert shown and all(float(x).is_integer() for x in shown)


def test_the_ltr_section_shows_each_model_and_its_feature_importance(report):
    page = report.read_text(encoding="utf-8")
    section = page.split('<section id="ltr">', 1)[1].split("</section>", 1)[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", section)
    assert cells == ["m1", "homedepot", "textsearch_boosted", "0.3865", "0.4331", "+0.0466", "84", "22"]
    assert section.count('src="data:image/png;base64,') == 1 and "m1: each feature" in section

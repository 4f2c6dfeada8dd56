"""`lab report`: one self-contained HTML page (leaderboard, metric bars with confidence intervals,
significance, per-query wins/losses, tuning, fine-tuning plots, history), checked as HTML and by
rendering it in headless Chromium (Debian's `chromium`; skipped with the reason when it is absent)."""

from __future__ import annotations

import base64
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
from lab.runner import run_strategy
from lab.templates import load_templates

from ci_support import missing
from demo_support import demo_lab

PNG = b"\x89PNG\r\n\x1a\n"
SECTIONS = {"leaderboard", "metrics", "significance", "per-query", "tuning", "finetune", "history"}


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
    _finetune_output(lab.workspace / "models" / "ft-demo" / "report")
    return lab


def _finetune_output(directory: Path) -> None:
    """What `lab finetune` leaves in a model directory: PNG plots and report.json."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0.41, 0.45, 0.47])
    fig.savefig(directory / "training_curves.png")
    plt.close(fig)
    (directory / "report.json").write_text(json.dumps({"model": "ft-demo", "val": {"before": {"ndcg@10": 0.41},
                                                                                   "after": {"ndcg@10": 0.47}}}))


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
    assert "val.after.ndcg@10" in page and "0.4700" in page
    assert lab.dataset.qrels_fingerprint() in page


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


CHECK = """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const decoded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.title = `rendered images ${decoded}/${images.length} sections ${document.querySelectorAll('section').length} tables ${document.querySelectorAll('table').length}`;
});
</script>"""


def test_chromium_renders_every_figure(report, tmp_path):
    chromium = _chromium()
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    status = re.search(r"<title>rendered images (\d+)/(\d+) sections (\d+) tables (\d+)</title>", dom)
    assert status, dom[:500]
    decoded, images, sections, tables = map(int, status.groups())
    assert decoded == images >= 5 and sections == len(SECTIONS) and tables >= 4

    shot = tmp_path / "page.png"
    subprocess.run([chromium, *flags, "--hide-scrollbars", "--window-size=1200,1600", f"--screenshot={shot}",
                    report.as_uri()], capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels[..., :3].std() > 0.05  # text, tables and plots, not a blank page

"""Plain-text renderings of result tables: Markdown, LaTeX, CSV and JSON (the terminal uses rich)."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd

FORMATS = ("table", "markdown", "csv", "json", "latex")

_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "Δ": r"$\Delta$", "α": r"$\alpha$", "*": r"$^{*}$"}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table; text columns left-aligned, numeric ones right-aligned."""
    def cell(text: str) -> str:
        return text.replace("|", r"\|").replace("\n", " ")

    numeric = numeric_columns(header, rows)
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def latex_table(header: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    """A booktabs ``tabular`` (in a ``table`` float when ``caption`` is given)."""
    numeric = numeric_columns(header, rows)
    spec = "".join("r" if n else "l" for n in numeric)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(latex_escape(h) for h in header) + r" \\",
             r"\midrule"]
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines = [r"\begin{table}", r"\centering", *lines, rf"\caption{{{latex_escape(caption)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def csv_text(frame: pd.DataFrame) -> str:
    out = io.StringIO()
    frame.to_csv(out, index=False, lineterminator="\n")
    return out.getvalue()


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def numeric_columns(header: list[str], rows: list[list[str]]) -> list[bool]:
    """For each column, whether its cells are numbers (right-aligned): every non-empty cell looks like one
    (``1,234``, ``+0.5%``, ``~12``, ``< 0.0001``, ``0.04*``, ``12/3/4``, ``—`` for unknown) and one at least is
    not empty."""
    return [all(_numeric(r[i]) for r in rows if r[i]) and any(r[i] for r in rows) for i in range(len(header))]


def _numeric(text: str) -> bool:
    cleaned = text.replace(",", "").rstrip("%*").lstrip("+-~<> ")
    if cleaned == "—":
        return True
    try:
        float(cleaned)
    except ValueError:
        return "/" in text and all(part.isdigit() for part in text.split("/"))
    return True

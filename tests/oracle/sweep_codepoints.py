"""Exhaustive code point sweep: our standard tokenizer vs Lucene's, one code point at a time.

Every code point of the BMP, SMP and tag planes, and every assigned one beyond, is put in probe strings that tell
its tokenizer class apart (alone, between letters, between digits, before a letter, between
Hebrew letters, doubled, before the keycap mark). Code points whose probes tokenize differently
are printed as ranges, split by whether Unicode 9.0 (Lucene 8's tables) had assigned them, as
perl's Unicode database says when perl is present.

    python -m tests.oracle.sweep_codepoints            # prints the summary and the ranges

Takes about a minute; it is a measurement, not a unit test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from itertools import groupby

import regex

from lab.engine.analysis import _SYMBOLS, _symbol, standard_tokenize
from tests.oracle.lucene import lucene_analyze, lucene_available

SYMBOLS = "AHaNnKELMBQDYZFVCTUsSIhjbmkRO"
PROBES = ("{c}", "a{c}a", "1{c}1", "{c}a", "\u05d0{c}\u05d0", "{c}{c}", "{c}\u20e3")
_CANDIDATE = regex.compile(r"[\p{Assigned}\p{Extended_Pictographic}]")
_PRIVATE = regex.compile(r"\p{Co}")


def candidates() -> list[int]:
    """Assigned or pictographic code points, and every one of the BMP, SMP and tag planes."""
    return [c for c in range(0x110000)
            if not 0xD800 <= c <= 0xDFFF and not _PRIVATE.match(chr(c))
            and (c < 0x20000 or 0xE0000 <= c < 0xF0000 or _CANDIDATE.match(chr(c)))]


def unicode_9_assigned() -> set[int] | None:
    """Code points assigned in Unicode 9.0, from perl's database; None without perl."""
    if not shutil.which("perl"):
        return None
    script = r'for my $c (0..0x10FFFF) { next if $c >= 0xD800 && $c <= 0xDFFF; print "$c\n" if chr($c) =~ /\p{Present_In: 9.0}/ }'
    out = subprocess.run(["perl", "-e", script], capture_output=True, text=True, check=True).stdout
    return {int(x) for x in out.split()}


def ranges(codes: list[int]) -> list[tuple[int, int]]:
    return [(g[0][1], g[-1][1]) for _, g in ((k, list(v)) for k, v in
                                            groupby(enumerate(codes), lambda p: p[1] - p[0]))]


def lucene_symbols(code: int, expected: list[list[str]]) -> str:
    """The class symbols under which our tokenizer reproduces Lucene on every probe of ``code``."""
    fits = []
    for symbol in SYMBOLS:
        _SYMBOLS[code] = symbol
        if all(standard_tokenize(p.format(c=chr(code))) == e for p, e in zip(PROBES, expected)):
            fits.append(symbol)
    _SYMBOLS[code] = _symbol(chr(code))
    return "".join(fits) or "?"


def main() -> int:
    if not lucene_available():
        print("java/liblucene8-java absent")
        return 1
    codes = candidates()
    texts = [p.format(c=chr(c)) for c in codes for p in PROBES]
    theirs = lucene_analyze("standard_tokenizer", texts)
    k = len(PROBES)
    differing = [c for i, c in enumerate(codes)
                 if any(standard_tokenize(texts[i * k + j]) != theirs[i * k + j] for j in range(k))]
    in_9 = unicode_9_assigned()
    print(f"code points swept: {len(codes)}; differing from Lucene 8.7: {len(differing)}")
    groups = {"all": differing} if in_9 is None else {
        "assigned after Unicode 9.0": [c for c in differing if c not in in_9],
        "assigned in Unicode 9.0 (property changed since)": [c for c in differing if c in in_9],
    }
    index = {c: i for i, c in enumerate(codes)}
    for title, group in groups.items():
        print(f"\n{title}: {len(group)} code points")
        for lo, hi in ranges(group):
            ours = "".join(sorted({_symbol(chr(c)) for c in range(lo, hi + 1)}))
            lucene = "/".join(sorted({lucene_symbols(c, theirs[index[c] * k:index[c] * k + k])
                                      for c in range(lo, hi + 1)}))
            print(f"  U+{lo:04X}..U+{hi:04X} ({hi - lo + 1}) ours={ours} lucene={lucene} e.g. {chr(lo)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

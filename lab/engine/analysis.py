"""Text analysis: Lucene's standard tokenizer and the OpenSearch analyzers built on it.

PROVISIONAL: ASCII-only tokenizer; being replaced by the exact UAX#29 implementation.
"""

from __future__ import annotations

from functools import lru_cache

import regex
from nltk.stem.porter import PorterStemmer

ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
_TOKEN = regex.compile(r"[A-Za-z0-9_]+(?:(?:(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[.,;'](?=[0-9]))[A-Za-z0-9_]+)*")
_STEMMER = PorterStemmer(mode=PorterStemmer.MARTIN_EXTENSIONS)


@lru_cache(maxsize=1 << 18)
def _stem(token: str) -> str:
    return _STEMMER.stem(token, to_lowercase=False)


class Analyzer:
    """An analyzer turns text into the list of terms that are indexed or searched."""

    def __init__(self, name: str, stop_words: frozenset[str] = frozenset(), stem: bool = False):
        self.name = name
        self.stop_words = stop_words
        self.stem = stem

    def analyze(self, text: str) -> list[str]:
        terms = [t.lower() for t in _TOKEN.findall(text)]
        if self.stem:
            terms = [t[:-2] if t.endswith("'s") else t for t in terms]
        terms = [t for t in terms if t not in self.stop_words]
        return [_stem(t) for t in terms] if self.stem else terms


_ANALYZERS = {
    "standard": Analyzer("standard"),
    "english": Analyzer("english", ENGLISH_STOP_WORDS, stem=True),
}


def get_analyzer(name: str) -> Analyzer:
    """The analyzer registered under an OpenSearch analyzer name."""
    return _ANALYZERS[name]

"""Text analysis: Lucene's StandardTokenizer and the OpenSearch analyzers built on it.

Analyzers (OpenSearch names):

- ``standard``: StandardTokenizer -> LowerCaseFilter (OpenSearch's default: no stop words).
- ``english``: StandardTokenizer -> EnglishPossessiveFilter -> LowerCaseFilter ->
  StopFilter(``_english_``, 33 words) -> PorterStemFilter, as Lucene's EnglishAnalyzer.
- ``simple``: LetterTokenizer -> LowerCaseFilter; ``stop``: the same -> StopFilter(``_english_``).
- ``whitespace``: WhitespaceTokenizer; ``keyword``: the whole text as one term.

The standard tokenizer implements the grammar of Lucene 8's ``StandardTokenizerImpl.jflex``
(UAX#29 word boundaries plus Lucene's token selection): at each position the longest match of
its rules wins; a match is a token if it holds a letter, digit, ideograph, kana, South East
Asian run or emoji sequence, and anything else (spaces, punctuation, lone marks) is skipped one
code point at a time. Han ideographs and hiragana are one token each; katakana, Hangul and
letter/digit runs join, with ``:.'`` (MidLetter) between letters and ``,;.'`` (MidNum) between
digits, ``_`` (ExtendNumLet) between anything. Tokens are at most 255 UTF-16 units: the rules
are matched within a 255-unit window from the token start, which chops longer runs the way
Lucene's non-expanding scanner buffer does.

ASCII text goes through one compiled regex over the text itself; other text is first mapped to
one class symbol per code point (``_symbol``) and the grammar runs over that symbol string: one
``re`` pass when only the commonest classes occur (letters, digits, punctuation, lone emoji, CJK),
one ``regex`` pass without emoji sequences or Hebrew, else a scanner loop taking the longest
match at each position. Tests prove every path equal to a literal transcription of Lucene's
grammar (hypothesis) and compare them with real Lucene.

Divergences from Lucene 8.7 (the ``liblucene8-java`` oracle; ``tests/oracle/sweep_codepoints.py``
puts every code point of the BMP, SMP and tag planes and every assigned one beyond, 263,102 in
all, into seven probe contexts and compares the tokens):

- Characters assigned after Unicode 9.0 (June 2016). Lucene 8's JFlex tables are Unicode 9.0,
  where these are unassigned: Lucene skips them and they break words. Here their Word_Break,
  Script and Line_Break come from the ``regex`` module's (newer) Unicode database, so they are
  tokenized as that Unicode version says. The sweep finds 28,519 such code points (21,615 Han
  ideographs of CJK extensions F-I and U+9FD6..9FFF, about 6,600 letters, marks and digits of
  newer scripts, 311 kana); 10 of them (U+1FBF0..1FBF9, segmented digits) Lucene 8 tokenizes as
  emoji and we as digits. Lucene 9 (Unicode 12.1) agrees with us on those assigned by 12.1.
- Emoji follow emoji-data 11.0 (Lucene 8's): Extended_Pictographic is embedded here (the
  ``regex`` module's is incomplete), the skin-tone modifiers U+1F3FB..1F3FF keep their Unicode
  9.0 Word_Break (E_Modifier, not Extend: ``a👍🏻`` is ``a``, ``👍🏻``), and the 80 code points
  whose Word_Break or Line_Break changed after 9.0 keep their 9.0 class (``_UNICODE_9_CLASSES``).
  With these, every code point Unicode 9.0 assigned tokenizes as in Lucene 8 in the sweep.
- Lowercasing maps each code point to its simple lowercase (Java's ``Character.toLowerCase``)
  from Python's Unicode database: the same as Java 17's for all 28,066 letters of Unicode 9.0;
  letters whose case mapping is newer than the JVM's may differ.
- The Porter stemmer is NLTK's ``MARTIN_EXTENSIONS`` mode, Martin Porter's reference algorithm
  as Lucene's PorterStemmer implements it (identical on 71,640 distinct words checked against
  Lucene); tokens with characters beyond the BMP are stemmed on their UTF-16 form as Java does.
- The letter and whitespace tokenizers use ``\\p{L}`` and Java's whitespace set; letters newer
  than the JVM's Unicode (Java 17: Unicode 13) differ.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from typing import Callable

import regex
from nltk.stem.porter import PorterStemmer

from lab.errors import QueryError

__all__ = ["Analyzer", "ENGLISH_STOP_WORDS", "ANALYZER_NAMES", "MAX_TOKEN_LENGTH", "get_analyzer",
           "standard_tokenize", "letter_tokenize", "whitespace_tokenize", "lowercase", "strip_possessive",
           "porter_stem"]

ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
"""OpenSearch's ``_english_`` stop words (Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET)."""

MAX_TOKEN_LENGTH = 255
"""Lucene's default maximum token length, in UTF-16 code units; longer runs are chopped."""

# ---- character classes ---------------------------------------------------------------------------
#
# One symbol per code point, the partition of code points the grammar distinguishes:
#   A ALetter      H Hebrew_Letter   a ALetter that is also an emoji   N Numeric   n ASCII digit
#   K Katakana     E ExtendNumLet    L MidLetter   M MidNum   B MidNumLet   Q Single_Quote
#   D Double_Quote Y Extend/Format   Z ZWJ   F U+FE0F   V U+FE0E   C U+20E3 keycap
#   T emoji tag U+E0020..E007E       U tag terminator U+E007F
#   S Complex_Context (Thai, Lao, Myanmar, Khmer...)   s Complex_Context that is Extend
#   I Han   h Hiragana   j emoji   b emoji modifier base   m emoji modifier   k keycap base # *
#   R Regional_Indicator   O anything else

_WORD_BREAK = regex.compile(
    r"(?P<A>\p{WB=ALetter})|(?P<H>\p{WB=Hebrew_Letter})|(?P<N>\p{WB=Numeric})|(?P<K>\p{WB=Katakana})"
    r"|(?P<E>\p{WB=ExtendNumLet})|(?P<L>\p{WB=MidLetter})|(?P<M>\p{WB=MidNum})|(?P<B>\p{WB=MidNumLet})"
    r"|(?P<Q>\p{WB=Single_Quote})|(?P<D>\p{WB=Double_Quote})|(?P<Y>[\p{WB=Extend}\p{WB=Format}])"
    r"|(?P<Z>\p{WB=ZWJ})|(?P<R>\p{WB=Regional_Indicator})"
)
_EMOJI = regex.compile(r"\p{Emoji}")
_MODIFIER_BASE = regex.compile(r"\p{Emoji_Modifier_Base}")
_MODIFIER = regex.compile(r"\p{Emoji_Modifier}")
_COMPLEX_CONTEXT = regex.compile(r"\p{Line_Break=Complex_Context}")
_HAN = regex.compile(r"\p{Script=Han}")
_HIRAGANA = regex.compile(r"\p{Script=Hiragana}")
_FULLWIDTH_DIGIT = regex.compile(r"[\uFF10-\uFF19]")
_NOT_EMOJI_CHAR = frozenset("#*0123456789\u00a9\u00ae\u2122\u3030\u303d")
"""Keycap bases and Lucene's "accidental emoji", excluded from emoji characters unless
Extended_Pictographic (as are regional indicators and modifiers)."""
_EXTENDED_PICTOGRAPHIC = tuple(
    (int(lo, 16), int(hi or lo, 16)) for lo, _, hi in (r.partition("-") for r in """
    A9 AE 203C 2049 2122 2139 2194-2199 21A9-21AA 231A-231B 2328 2388 23CF 23E9-23F3 23F8-23FA 24C2
    25AA-25AB 25B6 25C0 25FB-25FE 2600-2605 2607-2612 2614-2685 2690-2705 2708-2712 2714 2716 271D
    2721 2728 2733-2734 2744 2747 274C 274E 2753-2755 2757 2763-2767 2795-2797 27A1 27B0 27BF
    2934-2935 2B05-2B07 2B1B-2B1C 2B50 2B55 3030 303D 3297 3299 1F000-1F0FF 1F10D-1F10F 1F12F
    1F16C-1F171 1F17E-1F17F 1F18E 1F191-1F19A 1F1AD-1F1E5 1F201-1F20F 1F21A 1F22F 1F232-1F23A
    1F23C-1F23F 1F249-1F3FA 1F400-1F53D 1F546-1F64F 1F680-1F6FF 1F774-1F77F 1F7D5-1F7FF 1F80C-1F80F
    1F848-1F84F 1F85A-1F85F 1F888-1F88F 1F8AE-1F8FF 1F90C-1F93A 1F93C-1F945 1F947-1FAFF
    1FB00-1FBFF 1FC00-1FFFD
    """.split())
)
"""Extended_Pictographic as emoji-data 11.0 has it (Lucene 8's tables): today's data plus the
block U+1FB00..1FBFF, which Unicode 13 gave to non-pictographic symbols. The ``regex`` module's
own table of this property lacks most unassigned and older pictographs."""
_PICTOGRAPHIC_STARTS = tuple(lo for lo, _ in _EXTENDED_PICTOGRAPHIC)


def _is_pictographic(code: int) -> bool:
    i = bisect_right(_PICTOGRAPHIC_STARTS, code) - 1
    return i >= 0 and code <= _EXTENDED_PICTOGRAPHIC[i][1]


_UNICODE_9_CLASSES = {
    code: symbol
    for spec in """
    B8:O 2C2-2C5:O 2D2-2D6:O 2D7:L 2DE-2DF:O 2E5-2EB:O 2ED:O 2EF-2FF:O 55A-55C:O 55E-55F:O 58A:O
    A708-A716:O A720-A721:O A789-A78A:O AB5B:O 111C9:O 600-605:Y 6DD:Y 70F:Y 8E2:Y 110BD:Y
    1CF2-1CF3:Y 19DA:S FE10:M FE14:M
    """.split()
    for span, symbol in [spec.split(":")]
    for lo, _, hi in [span.partition("-")]
    for code in range(int(lo, 16), int(hi or lo, 16) + 1)
}
"""Code points assigned by Unicode 9.0 whose Word_Break or Line_Break changed since (mostly in
Unicode 11), with the class Lucene 8's Unicode 9.0 tables give them."""

_SPECIAL = {"\ufe0f": "F", "\ufe0e": "V", "\u20e3": "C", "\U000e007f": "U", "#": "k", "*": "k"}
_SPECIAL.update({d: "n" for d in "0123456789"})
_SPECIAL.update({chr(c): "T" for c in range(0xE0020, 0xE007F)})


def _symbol(ch: str) -> str:
    """The grammar's class symbol of one code point."""
    special = _SPECIAL.get(ch) or _UNICODE_9_CLASSES.get(ord(ch))
    if special:
        return special
    if _MODIFIER.match(ch):
        return "m"  # Word_Break=E_Modifier in Unicode 9.0 (Lucene 8), Extend since Unicode 11
    m = _WORD_BREAK.match(ch)
    wb = m.lastgroup if m else "O"
    emoji = _is_pictographic(ord(ch)) or bool(_EMOJI.match(ch) and wb != "R" and ch not in _NOT_EMOJI_CHAR)
    if wb == "Y":
        return "s" if _COMPLEX_CONTEXT.match(ch) else "Y"
    if wb == "A":
        return "a" if emoji else "A"
    if _FULLWIDTH_DIGIT.match(ch):
        return "N"
    if wb != "O":
        return wb
    if _MODIFIER_BASE.match(ch):
        return "b"
    if emoji:
        return "j"
    if _COMPLEX_CONTEXT.match(ch):
        return "S"
    if _HAN.match(ch):
        return "I"
    if _HIRAGANA.match(ch):
        return "h"
    return "O"


class _SymbolTable(dict):
    """``str.translate`` table from code point to symbol, filled on first sight of each one."""

    def __missing__(self, code: int) -> str:
        symbol = self[code] = _symbol(chr(code))
        return symbol


_SYMBOLS = _SymbolTable()

# ---- the grammar over class symbols ---------------------------------------------------------------
#
# Word rule (UAX#29 WB5-WB13b as Lucene's grammar joins them), written so that greedy regex
# matching finds the longest match: a token is ExtendNumLet* then cores (letters, digits, katakana,
# each with trailing Extend/Format/ZWJ), each step joining the next core to the previous one by
# ExtendNumLet+ (anything), directly (letter/digit with letter/digit, katakana with katakana), by
# one MidLetter between letters or MidNum between digits, or Hebrew's quote rules; then an optional
# Hebrew trailing single quote and trailing ExtendNumLet*. Hebrew's rules (WB7a-c) only apply to a
# Hebrew letter that can start a unit of Lucene's grammar, i.e. one not reached through a MidLetter
# or Double_Quote join (``_JOINED_HEBREW`` looks behind for those, through chains of ``א'א'``),
# and the letter closing ``א"א`` takes no MidLetter join.

_X = "[YZFVCTUs]"  # Extend | Format | ZWJ (WB4: they stick to what precedes them)
_JOINED_HEBREW = rf"(?:[LB]|D|[Aa]{_X}*Q){_X}*(?:H{_X}*Q{_X}*)*H{_X}*"
_FREE_HEBREW = rf"(?<=H{_X}*)(?<!{_JOINED_HEBREW})"
_WORD = rf"""
    (?:E{_X}*)* [AHaNnK]{_X}*
    (?: (?:E{_X}*)+ [AHaNnK]{_X}*
      | (?<=[AHaNn]{_X}*) [AHaNn]{_X}*
      | (?<=K{_X}*) K{_X}*
      | (?<=[AHa]{_X}*)(?<!D{_X}*H{_X}*) [LBQ]{_X}* [AHa]{_X}*
      | (?<=[Nn]{_X}*) [MBQ]{_X}* [Nn]{_X}*
      | {_FREE_HEBREW} Q{_X}* (?: [AHaNn]{_X}* | (?:E{_X}*)+ [AHaNnK]{_X}* )
      | {_FREE_HEBREW} D{_X}* H{_X}*
    )*
    (?: {_FREE_HEBREW} Q{_X}* )?
    (?:E{_X}*)*
"""
_SOUTH_EAST_ASIAN = r"[Ss][SYZFVCTUs]*"
_IDEOGRAPH = rf"I{_X}*"
_HIRAGANA_CHAR = rf"h{_X}*"
_XS = "[YZCTUs]"  # Extend | Format | ZWJ without the presentation selectors
_EMOJI_UNIT = rf"(?:Z*[ajb]{_XS}*F?|(?:Z*b{_XS}*)?m{_XS}*)"
_EMOJI_SEQUENCE = (rf"{_EMOJI_UNIT}(?:(?:Z{_EMOJI_UNIT})*|T+U)"
                   rf"|[kn]{_XS}*F?C{_XS}*|R{_X}*R{_X}*")

_TOKEN = regex.compile(f"{_WORD}|{_SOUTH_EAST_ASIAN}|{_IDEOGRAPH}|{_HIRAGANA_CHAR}", regex.VERBOSE)
# The same rules for text of the commonest classes only (no Extend/Format/ZWJ, Hebrew, emoji
# sequences or ambiguous letters): one-symbol look-behinds, so ``re`` runs them, 10x faster.
# Keycap bases and double quotes join nothing there; a lone emoji character is a token.
_SIMPLE_TOKEN = re.compile(
    r"E*(?:[ANn]+|K+)(?:E+(?:[ANn]+|K+)|(?<=A)[LBQ](?=A)[ANn]+|(?<=[Nn])[MBQ](?=[Nn])[ANn]+)*E*|S+|[Ihjb]"
)
_NOT_SIMPLE = re.compile(r"[^ANnEKLMBQDOSIhjbk]")
_WORD_RULE = regex.compile(_WORD, regex.VERBOSE)
_OTHER_RULE = regex.compile(f"{_SOUTH_EAST_ASIAN}|{_IDEOGRAPH}|{_HIRAGANA_CHAR}")
_EMOJI_RULE = regex.compile(_EMOJI_SEQUENCE, regex.POSIX)  # leftmost-longest, as JFlex
_SCANNER_NEEDED = regex.compile("[ajbmkRH]")  # emoji starts, Hebrew
_ANY_START = regex.compile("[AHaNnKESsIhjbmkRZ]")
_WORD_STARTS = frozenset("AHaNnKE")
_EMOJI_STARTS = frozenset("ajbmkRZ")  # a digit never starts a longer emoji than word ("1️⃣")

# The same word rule for ASCII text, over the text itself (``re`` runs it 3x faster than ``regex``):
# letters/digits/underscores, with one MidLetter between letters or MidNum between digits.
_ASCII_WORD = re.compile(
    r"_*[A-Za-z0-9][A-Za-z0-9_]*(?:(?:(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[,;.'](?=[0-9]))[A-Za-z0-9_]+)*"
)


def _utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as Java counts: characters beyond the BMP count twice."""
    return len(text) if text.isascii() else len(text) + sum(c > "\uffff" for c in text)


def _window_end(text: str, start: int, max_length: int) -> int:
    """The end of the longest run from ``start`` that fits in ``max_length`` UTF-16 units."""
    units, end = 0, start
    while end < len(text):
        units += 2 if text[end] > "\uffff" else 1
        if units > max_length:
            break
        end += 1
    return end


def _longest_ascii(piece: str, endpos: int) -> int:
    m = _ASCII_WORD.match(piece, 0, endpos)
    return m.end() if m else 0


def _longest_symbols(piece: str, endpos: int) -> int:
    """Length of the longest match of any token rule at the start of ``piece`` (0 if none)."""
    first = piece[0]
    best = 0
    m = (_WORD_RULE if first in _WORD_STARTS else _OTHER_RULE).match(piece, 0, endpos)
    if m:
        best = m.end()
    if first in _EMOJI_STARTS:
        m = _EMOJI_RULE.match(piece, 0, endpos)
        if m and m.end() > best:
            best = m.end()
    return best


def _scan(text: str, symbols: str, start_pattern: re.Pattern | regex.Pattern,
          longest: Callable[[str, int], int], max_length: int) -> list[str]:
    """Lucene's scanner loop: the longest match at each position, within the token-length window,
    skipping one code point where no rule matches. Rules see only the text from the token start
    (a slice, so that look-behinds cannot see the previous token) to at most one code point past
    the window, which tells whether the token would be longer than the window."""
    tokens: list[str] = []
    pos, n = 0, len(symbols)
    while pos < n:
        m = start_pattern.search(symbols, pos)
        if m is None:
            break
        start = m.start()
        piece = symbols[start:start + max_length + 1]
        length = longest(piece, len(piece))
        if length > max_length // 2 and _utf16_length(text[start:start + length]) > max_length:
            length = longest(piece, _window_end(text, start, max_length) - start)
        if length:
            tokens.append(text[start:start + length])
            pos = start + length
        else:
            pos = start + 1
    return tokens


_ASCII_START = re.compile(r"[A-Za-z0-9_]")


def _tokenize_ascii(text: str, max_length: int) -> list[str]:
    """Standard tokens of ASCII text."""
    tokens = _ASCII_WORD.findall(text)
    if len(text) > max_length and any(len(t) > max_length for t in tokens):
        return _scan(text, text, _ASCII_START, _longest_ascii, max_length)
    return tokens


def _tokenize_unicode(text: str, max_length: int) -> list[str]:
    """Standard tokens of any text, through its class symbols. Without emoji sequences or Hebrew
    (whose rules look behind) one pass of the combined rules finds them; otherwise the scanner
    loop does."""
    symbols = text.translate(_SYMBOLS)
    pattern = (_SIMPLE_TOKEN if _NOT_SIMPLE.search(symbols) is None
               else _TOKEN if _SCANNER_NEEDED.search(symbols) is None else None)
    if pattern is not None:
        spans = [m.span() for m in pattern.finditer(symbols)]
        if not any(e - s > max_length // 2 and _utf16_length(text[s:e]) > max_length for s, e in spans):
            return [text[s:e] for s, e in spans]
    return _scan(text, symbols, _ANY_START, _longest_symbols, max_length)


def standard_tokenize(text: str, max_token_length: int = MAX_TOKEN_LENGTH) -> list[str]:
    """Lucene's StandardTokenizer: the tokens of ``text``, case preserved."""
    if text.isascii():
        return _tokenize_ascii(text, max_token_length)
    return _tokenize_unicode(text, max_token_length)


# ---- filters -------------------------------------------------------------------------------------

class _LowerTable(dict):
    """Simple (one code point to one) lowercase mapping, as Java's Character.toLowerCase."""

    def __missing__(self, code: int) -> str:
        lower = chr(code).lower()
        value = self[code] = lower if len(lower) == 1 else "i" if code == 0x130 else chr(code)
        return value


_LOWER = _LowerTable()


def lowercase(token: str) -> str:
    """Lucene's LowerCaseFilter on one token."""
    return token.lower() if token.isascii() else token.translate(_LOWER)


_POSSESSIVE_QUOTES = ("'", "\u2019", "\uff07")


def strip_possessive(token: str) -> str:
    """Lucene's EnglishPossessiveFilter: drop a trailing 's / ’s / ＇s (s in either case)."""
    if len(token) >= 2 and token[-1] in "sS" and token[-2] in _POSSESSIVE_QUOTES:
        return token[:-2]
    return token


_STEMMER = PorterStemmer(mode=PorterStemmer.MARTIN_EXTENSIONS)


def porter_stem(token: str) -> str:
    """Lucene's PorterStemFilter on one (lowercased) token; Java stems UTF-16 units, so
    characters beyond the BMP count as two consonants."""
    if token.isascii() or max(token) <= "\uffff":
        return _STEMMER.stem(token, to_lowercase=False)
    units = "".join(c if c <= "\uffff" else _surrogates(c) for c in token)
    return _STEMMER.stem(units, to_lowercase=False).encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def _surrogates(c: str) -> str:
    code = ord(c) - 0x10000
    return chr(0xD800 + (code >> 10)) + chr(0xDC00 + (code & 0x3FF))


_DROPPED = ""
_ENGLISH_TERMS: dict[str, str] = {}
_CACHE_LIMIT = 1 << 20


def _english_term(lowered: str) -> str:
    """The english analyzer's term for one lowercased token, or "" when it is a stop word."""
    token = strip_possessive(lowered)
    return _DROPPED if token in ENGLISH_STOP_WORDS else porter_stem(token)


def _english(tokens: list[str]) -> list[str]:
    cache = _ENGLISH_TERMS
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    terms = []
    for token in tokens:
        term = cache.get(token)
        if term is None:
            term = cache[token] = _english_term(token)
        if term:
            terms.append(term)
    return terms


# ---- char tokenizers (letter, whitespace) --------------------------------------------------------

_JAVA_WHITESPACE = "\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f \u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000"
_WHITESPACE_RUNS = regex.compile(f"[^{_JAVA_WHITESPACE}]+")
_LETTER_RUNS = regex.compile(r"\p{L}+")


def _chop(runs: list[str], max_length: int) -> list[str]:
    """Lucene's CharTokenizer cut: a token ends once it reaches ``max_length`` UTF-16 units."""
    out = []
    for run in runs:
        if len(run) <= max_length // 2 or _utf16_length(run) <= max_length:
            out.append(run)
            continue
        start, units = 0, 0
        for i, c in enumerate(run):
            units += 2 if c > "\uffff" else 1
            if units >= max_length:
                out.append(run[start:i + 1])
                start, units = i + 1, 0
        if start < len(run):
            out.append(run[start:])
    return out


def whitespace_tokenize(text: str) -> list[str]:
    """Lucene's WhitespaceTokenizer (Java's Character.isWhitespace separates)."""
    return _chop(_WHITESPACE_RUNS.findall(text), MAX_TOKEN_LENGTH)


def letter_tokenize(text: str) -> list[str]:
    """Lucene's LetterTokenizer (runs of Character.isLetter)."""
    return _chop(_LETTER_RUNS.findall(text), MAX_TOKEN_LENGTH)


# ---- analyzers -----------------------------------------------------------------------------------

def _standard(text: str) -> list[str]:
    if text.isascii():
        return _tokenize_ascii(text.lower(), MAX_TOKEN_LENGTH)
    return [lowercase(t) for t in _tokenize_unicode(text, MAX_TOKEN_LENGTH)]


def _english_analyze(text: str) -> list[str]:
    return _english(_standard(text))


def _simple(text: str) -> list[str]:
    return [lowercase(t) for t in letter_tokenize(text)]


def _stop(text: str) -> list[str]:
    return [t for t in _simple(text) if t not in ENGLISH_STOP_WORDS]


SHORT_TEXT = 256
"""Texts up to this length (queries, short fields) are analysed once and remembered: a query's text is
analysed again for every field it searches."""
SHORT_TEXTS_CACHED = 1 << 16


class Analyzer:
    """An analyzer turns text into the list of terms that are indexed or searched."""

    def __init__(self, name: str, analyze: Callable[[str], list[str]]):
        self.name = name
        self._analyze = analyze
        self._short = lru_cache(maxsize=SHORT_TEXTS_CACHED)(lambda text: tuple(analyze(text)))

    def analyze(self, text: str) -> list[str]:
        """The terms of ``text``, in order, repeats kept."""
        return list(self._short(text)) if len(text) <= SHORT_TEXT else self._analyze(text)

    def __repr__(self) -> str:
        return f"Analyzer({self.name!r})"


_ANALYZERS = {
    "standard": Analyzer("standard", _standard),
    "english": Analyzer("english", _english_analyze),
    "simple": Analyzer("simple", _simple),
    "stop": Analyzer("stop", _stop),
    "whitespace": Analyzer("whitespace", whitespace_tokenize),
    "keyword": Analyzer("keyword", lambda text: [text]),
}
ANALYZER_NAMES = tuple(_ANALYZERS)


def get_analyzer(name: str) -> Analyzer:
    """The analyzer registered under an OpenSearch analyzer name."""
    try:
        return _ANALYZERS[name]
    except KeyError:
        raise QueryError(f"unknown analyzer {name!r}; supported: {', '.join(ANALYZER_NAMES)}") from None

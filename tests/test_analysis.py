"""Analyzers: hand-checked cases (each checked against Lucene 8.7), the ASCII fast path against the
full Unicode path, and the tokenizer against a literal transcription of Lucene's JFlex grammar."""

from __future__ import annotations

import regex
import pytest
from hypothesis import given, settings, strategies as st

from lab.engine.analysis import (
    ANALYZER_NAMES, ENGLISH_STOP_WORDS, _SYMBOLS, _tokenize_ascii, _tokenize_unicode, get_analyzer,
    porter_stem, standard_tokenize,
)
from lab.errors import QueryError


def standard(text: str) -> list[str]:
    return get_analyzer("standard").analyze(text)


def english(text: str) -> list[str]:
    return get_analyzer("english").analyze(text)


# ---- hand-checked cases ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, terms", [
    ("Simpson Strong-Tie 12-Gauge Angle", ["simpson", "strong", "tie", "12", "gauge", "angle"]),
    ("BEHR Premium 1-gal. #SC-141 Tugboat", ["behr", "premium", "1", "gal", "sc", "141", "tugboat"]),
    ("Whirlpool 1.9 cu. ft. Over the Range", ["whirlpool", "1.9", "cu", "ft", "over", "the", "range"]),
    ("2x4 stud 3.5 in. 1,000 lb. 1,000.50 10.5.3",
     ["2x4", "stud", "3.5", "in", "1,000", "lb", "1,000.50", "10.5.3"]),
    ("U.S.A. made", ["u.s.a", "made"]),
    ("don't won't o'neil's", ["don't", "won't", "o'neil's"]),
    ("DOG'S DOG’S DOG＇S dogs' dog's's", ["dog's", "dog’s", "dog＇s", "dogs", "dog's's"]),
    ("a_b __init__ _x_ ___ a_.b", ["a_b", "__init__", "_x_", "a_", "b"]),
    ("1/2 in. x 10 ft. 3/4-in", ["1", "2", "in", "x", "10", "ft", "3", "4", "in"]),
    ('24" x 36"', ["24", "x", "36"]),
    ("wi-fi 802.11b/g/n 5:30 12:00pm a:b:c 1.a a.1", ["wi", "fi", "802.11b", "g", "n", "5", "30", "12", "00pm",
                                                     "a:b:c", "1", "a", "a", "1"]),
    ("e-mail user@example.com http://www.x.com/a?b=1",
     ["e", "mail", "user", "example.com", "http", "www.x.com", "a", "b", "1"]),
    ("Café Crème brûlée ÅSTRÖM İstanbul ΣΟΦΟΣ Straße",
     ["café", "crème", "brûlée", "åström", "istanbul", "σοφοσ", "straße"]),
    ("中文测试 日本語のテキスト カタカナ 한국어 텍스트",
     ["中", "文", "测", "试", "日", "本", "語", "の", "テキスト", "カタカナ", "한국어", "텍스트"]),
    ("ภาษาไทย ພາສາລາວ", ["ภาษาไทย", "ພາສາລາວ"]),
    ("I ❤️ NY 👍🏽 🇺🇸 1️⃣ #️⃣ 👨‍👩‍👧‍👦 🏴‍☠️",
     ["i", "❤️", "ny", "👍🏽", "🇺🇸", "1️⃣", "#️⃣", "👨‍👩‍👧‍👦", "🏴‍☠️"]),
    ("™ ® © ℹ️ a👍🏻", ["™", "®", "©", "ℹ️", "a", "👍🏻"]),
    ("א'1 א\"ב", ["א'1", "א\"ב"]),
    ("", []),
    ("   \t\n ", []),
    ("-- !! ...", []),
])
def test_standard_analyzer(text, terms):
    assert standard(text) == terms


@pytest.mark.parametrize("text, terms", [
    ("Simpson Strong-Tie 12-Gauge Angle", ["simpson", "strong", "tie", "12", "gaug", "angl"]),
    ("Whirlpool 1.9 cu. ft. Over the Range", ["whirlpool", "1.9", "cu", "ft", "over", "rang"]),
    ("the dog's bowl", ["dog", "bowl"]),
    ("DOG'S DOG’S DOG＇S dogs' dog's's", ["dog", "dog", "dog", "dog", "dog'"]),
    ("don't won't o'neil's", ["don't", "won't", "o'neil"]),
    ("1/2 in. x 10 ft.", ["1", "2", "x", "10", "ft"]),
    ("This is not a drill, and it will be there", ["drill"]),
    ("running runs ran runner easily", ["run", "run", "ran", "runner", "easili"]),
    ("generalization ponies caresses agreed hopping falling filing happy relational vietnamization "
     "hopefulness sensibiliti controll", ["gener", "poni", "caress", "agre", "hop", "fall", "file", "happi",
                                          "relat", "vietnam", "hope", "sensibl", "control"]),
    ("", []),
])
def test_english_analyzer(text, terms):
    assert english(text) == terms


def test_english_stop_words_are_opensearchs():
    assert len(ENGLISH_STOP_WORDS) == 33
    assert {"a", "the", "and", "with", "will", "into", "such"} <= ENGLISH_STOP_WORDS
    assert "from" not in ENGLISH_STOP_WORDS


def test_tokens_longer_than_255_are_chopped_as_lucene_does():
    assert [len(t) for t in standard("a" * 300)] == [255, 45]
    assert [len(t) for t in standard("a" * 511 + " b")] == [255, 255, 1, 1]
    # the rules only see 255 units from the token start: the dot cannot join, the next run restarts
    assert standard("a" * 254 + ".b" + "c" * 10) == ["a" * 254, "b" + "c" * 10]
    assert standard("_" * 300 + "a") == ["_" * 254 + "a"]
    # UTF-16 units: a character beyond the BMP counts twice
    assert [len(t) for t in standard("\U0001d400" * 200)] == [127, 73]
    assert standard("x" * 254 + "\U0001d400") == ["x" * 254, "\U0001d400"]


@pytest.mark.parametrize("name, text, terms", [
    ("keyword", "Red Shoes 2x4", ["Red Shoes 2x4"]),
    ("keyword", "", [""]),
    ("whitespace", "Red  Shoes\t2x4's\u00a0x\u2003y", ["Red", "Shoes", "2x4's\u00a0x", "y"]),
    ("simple", "Red Shoes 2x4's ΣΑΣ", ["red", "shoes", "x", "s", "σασ"]),
    ("stop", "The Shoes and a 2x4", ["shoes", "x"]),
])
def test_other_analyzers(name, text, terms):
    assert get_analyzer(name).analyze(text) == terms


def test_char_tokenizers_cut_at_255_units():
    assert [len(t) for t in get_analyzer("whitespace").analyze("x" * 600)] == [255, 255, 90]
    assert [len(t) for t in get_analyzer("simple").analyze("\U0001d400" * 300)] == [128, 128, 44]


def test_unknown_analyzer_is_a_query_error():
    with pytest.raises(QueryError, match="unknown analyzer 'french'"):
        get_analyzer("french")
    assert set(ANALYZER_NAMES) == {"standard", "english", "keyword", "whitespace", "simple", "stop"}


def test_stemming_beyond_the_bmp_counts_utf16_units():
    # Lucene stems UTF-16 units: "𝐀" is two units, so "𝐀s" is long enough to stem and "𝐀𝐀" does
    # not end in a double consonant (code point by code point it would be neither)
    assert porter_stem("a\U0001d400\U0001d400ing") == "a\U0001d400\U0001d400"
    assert porter_stem("\U0001d400s") == "\U0001d400"
    assert porter_stem("hopping") == "hop"


# ---- the ASCII fast path equals the full Unicode path ---------------------------------------------

ASCII = st.text(alphabet="abcXYZ0189_.,:;'\"#-/ \t", max_size=40)


@settings(max_examples=400, deadline=None)
@given(text=ASCII, max_length=st.sampled_from([3, 5, 8, 255]))
def test_ascii_path_equals_unicode_path(text, max_length):
    assert _tokenize_ascii(text, max_length) == _tokenize_unicode(text, max_length)


# ---- the tokenizer equals a literal transcription of Lucene's grammar -----------------------------
#
# Lucene's StandardTokenizerImpl.jflex rules over our class symbols, matched leftmost-longest
# (POSIX) as JFlex does, scanned within the token-length window. Ours restructures the word rule
# for greedy matching and picks rules by first symbol; this checks that changes nothing.

_XF = "[YZFVCTUs]"


def _ex(symbol: str) -> str:
    return f"(?:{symbol}{_XF}*)"


_AHL, _HEB, _NUM, _KAT = _ex("[AHa]"), _ex("H"), _ex("[Nn]"), _ex("K")
_MIDL, _MIDN, _ENL, _SQ, _DQ = _ex("[LBQ]"), _ex("[MBQ]"), _ex("E"), _ex("Q"), _ex("D")
_CORE = (f"(?:{_KAT}(?:{_ENL}*{_KAT})*|(?:{_HEB}(?:{_SQ}|{_DQ}{_HEB})|{_NUM}(?:(?:{_ENL}*|{_MIDN}){_NUM})*"
         f"|{_AHL}(?:(?:{_ENL}*|{_MIDL}){_AHL})*)+)")
_XS = "[YZCTUs]"
_UNIT = f"(?:Z*[ajb]{_XS}*F?|(?:Z*b{_XS}*)?m{_XS}*)"
_RULES = [
    f"{_UNIT}(?:(?:Z{_UNIT})*|T+U)|[kn]{_XS}*F?C{_XS}*|{_ex('R')}{{2}}",  # emoji
    f"{_ENL}*{_NUM}(?:(?:{_ENL}*|{_MIDN}){_NUM})*{_ENL}*",  # numeric
    f"{_KAT}+",  # katakana
    f"{_ENL}*{_CORE}(?:{_ENL}+{_CORE})*{_ENL}*",  # word
    f"{_ex('[Ss]')}+",  # South East Asian
    _ex("I"),  # ideographic
    _ex("h"),  # hiragana
]
_REFERENCE = regex.compile("|".join(f"(?:{r})" for r in _RULES), regex.POSIX)

# one character per class symbol
SAMPLES = {"A": "a", "H": "א", "a": "ℹ", "N": "٣", "n": "1", "K": "カ", "E": "_", "L": ":", "M": ",",
           "B": ".", "Q": "'", "D": '"', "Y": "\u0301", "Z": "\u200d", "F": "\ufe0f", "V": "\ufe0e",
           "C": "\u20e3", "T": "\U000e0061", "U": "\U000e007f", "s": "\u0e31", "S": "ก", "I": "漢",
           "h": "か", "j": "😀", "b": "👍", "m": "🏻", "k": "#", "R": "🇺", "O": " "}


def reference_tokens(text: str, max_length: int) -> list[str]:
    symbols = text.translate(_SYMBOLS)
    tokens, pos = [], 0
    while pos < len(text):
        end, units = pos, 0
        while end < len(text) and units + (2 if text[end] > "\uffff" else 1) <= max_length:
            units += 2 if text[end] > "\uffff" else 1
            end += 1
        m = _REFERENCE.match(symbols, pos, end)
        if m and m.end() > pos:
            tokens.append(text[pos:m.end()])
            pos = m.end()
        else:
            pos += 1
    return tokens


def test_samples_have_their_symbols():
    assert {s: c.translate(_SYMBOLS) for s, c in SAMPLES.items()} == {s: s for s in SAMPLES}


def symbol_text(symbols: str) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from([SAMPLES[s] for s in symbols]), max_size=16).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=symbol_text("".join(SAMPLES)), max_length=st.sampled_from([3, 6, 255]))
def test_tokenizer_equals_lucene_grammar(text, max_length):
    assert standard_tokenize(text, max_length) == reference_tokens(text, max_length)


@settings(max_examples=700, deadline=None)
@given(text=symbol_text("AHKEQDLnO"), max_length=st.sampled_from([3, 6, 255]))
def test_word_rule_equals_lucene_grammar(text, max_length):
    # letters, Hebrew's quote rules, katakana, digits and joiners, densely mixed
    assert standard_tokenize(text, max_length) == reference_tokens(text, max_length)


@settings(max_examples=300, deadline=None)
@given(text=symbol_text("ANnEKLMBQDOSIhjbk"), max_length=st.sampled_from([3, 255]))
def test_common_classes_path_equals_lucene_grammar(text, max_length):
    # text of the commonest classes only takes the one-symbol look-behind path
    assert standard_tokenize(text, max_length) == reference_tokens(text, max_length)


@settings(max_examples=300, deadline=None)
@given(text=symbol_text("ajbmkRZFVCTUYnO"))
def test_emoji_rule_equals_lucene_grammar(text):
    assert standard_tokenize(text) == reference_tokens(text, 255)


@pytest.mark.parametrize("text", ["😀\u200d😀", "😀\u0301\u200d😀", "👍🏻\u200d😀", "\u200d\u200d😀", "#\ufe0f\u20e3",
                                  "😀\U000e0061\U000e007f", "ℹ\ufe0f\u200d😀a", "🇺🇸🇺", "א'_カ", "カ_a", "1️⃣a",
                                  "a.א'", "א\"א'", "א\"א.a", "aא'", "א'א'", "a'א'"])
def test_emoji_and_hebrew_corners_follow_the_grammar(text):
    assert standard_tokenize(text) == reference_tokens(text, 255)

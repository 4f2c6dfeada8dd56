"""Seeded generators of product-catalogue-like text for the oracle tests.

Titles mix brands, nouns, sizes with units, model numbers, possessives, hyphens, apostrophe
variants, Latin-1 accents and signs, and now and then other scripts, emoji, marks and spacing
characters; descriptions are long (40+ tokens) so BM25's lossy length norms matter.
"""

from __future__ import annotations

import random

BRANDS = ["BEHR", "Simpson Strong-Tie", "DEWALT", "Husky", "Lowe's", "Hampton Bay", "GE", "Rust-Oleum",
          "3M", "Milwaukee", "Moen", "Delta", "Glacier Bay", "Home Decorators Collection", "RIDGID", "Ryobi",
          "Everbilt", "Werner", "LG", "Whirlpool", "KitchenAid", "Schlage", "Kwikset", "Leviton", "O'Neil & Sons",
          "Crème Co.", "Señor Tools", "Müller GmbH", "ÅSTRÖM", "Ace™", "Vigoro®"]
NOUNS = ["angle", "bracket", "faucet", "shower", "valve", "kit", "paint", "primer", "coating", "drill", "saw",
         "blade", "hammer", "ladder", "mower", "trimmer", "light", "bulbs", "fixture", "switch", "outlet",
         "cabinet", "vanity", "sink", "toilet", "tile", "flooring", "carpet", "rug", "door", "lock", "hinge",
         "screws", "nails", "anchors", "bolts", "washers", "hose", "nozzle", "sprinkler", "fence", "post",
         "panel", "plywood", "lumber", "stud", "insulation", "caulk", "adhesive", "tape", "gloves", "goggles",
         "heater", "fan", "microwave", "refrigerator", "dishwasher", "washer", "dryer", "range", "grill"]
ADJECTIVES = ["premium", "heavy-duty", "cordless", "stainless", "galvanized", "textured", "glossy", "matte",
              "outdoor", "indoor", "waterproof", "energy-efficient", "brushed", "oil-rubbed", "polished",
              "adjustable", "portable", "programmable", "dimmable", "decorative", "replacement", "universal",
              "running", "generalization", "conditional", "hopefully", "relational", "caresses", "ponies"]
WORDS = ["the", "and", "with", "for", "in", "of", "to", "a", "is", "not", "it's", "men's", "women's",
         "kids'", "don't", "won't", "O’Brien’s", "DOG＇S", "dogs'", "e.g.", "U.S.A.", "a.m.", "No.", "approx."]
UNITS = ["in.", "ft.", "gal.", "qt.", "lb.", "oz.", "cu. ft.", "sq. ft.", "mm", "cm", "V", "W", "Amp", "BTU",
         "-Volt", "-Watt", "-Gauge", "-Pack", "-Piece", "-Light", "°F", "in", "ft"]
SIGNS = ["#", "&", "/", "(", ")", "-", ",", ".", "'", '"', ":", ";", "+", "%", "*", "x", "X", "½", "¼",
         "°", "×", "·", "®", "™", "©", "–", "—", "…", "•", "|"]
OTHER_SCRIPTS = ["中文", "日本語のテキスト", "カタカナ", "ひらがな", "한국어", "Ελληνικά", "ΣΟΦΟΣ", "Русский",
                 "עברית", "א'ב", 'צה"ל', "العربية", "ภาษาไทย", "ພາສາລາວ", "हिन्दी", "İstanbul", "Straße",
                 "ǅemal", "ｆｕｌｌｗｉｄｔｈ１２３", "ﾊﾝｶｸ", "々", "ゝ", "〰", "〽"]
EMOJI = ["😀", "👍", "👍🏽", "❤️", "🇺🇸", "1️⃣", "#️⃣", "👨\u200d👩\u200d👧", "🏴\u200d☠️", "ℹ️", "🅰", "🔥🔥",
         "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", "🏻", "☀", "⚡", "✔"]
SPACING = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u200b", "\u200d", "\u200c", "\u00ad",
           "\u0301", "\ufe0f", "\u3000", "_", "__"]


def _number(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.35:
        return str(rng.randint(0, 99))
    if kind < 0.55:
        return f"{rng.randint(0, 20)}.{rng.randint(0, 99)}"
    if kind < 0.65:
        return f"{rng.randint(1, 9)}/{rng.choice([2, 4, 8, 16])}"
    if kind < 0.75:
        return f"{rng.randint(1, 999)},{rng.randint(0, 999):03d}"
    if kind < 0.85:
        return f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}"
    return f"{rng.randint(1, 9)}x{rng.randint(1, 12)}"


def _model(rng: random.Random) -> str:
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXZ") for _ in range(rng.randint(1, 3)))
    return rng.choice(["#", "", "Model ", "No. "]) + letters + rng.choice(["-", "", "_", "."]) + str(rng.randint(1, 9999))


def _piece(rng: random.Random, exotic: float) -> str:
    r = rng.random()
    if r < exotic:
        return rng.choice(OTHER_SCRIPTS + EMOJI + SIGNS)
    if r < 0.30:
        return rng.choice(NOUNS)
    if r < 0.45:
        return rng.choice(ADJECTIVES)
    if r < 0.55:
        return rng.choice(WORDS)
    if r < 0.70:
        return _number(rng) + rng.choice(["", " ", "-"]) + rng.choice(UNITS)
    if r < 0.78:
        return _model(rng)
    if r < 0.85:
        return rng.choice(BRANDS)
    if r < 0.92:
        return rng.choice(NOUNS).upper() if rng.random() < 0.5 else rng.choice(NOUNS).title()
    return rng.choice(SIGNS)


def _join(rng: random.Random, pieces: list[str], exotic: float) -> str:
    out = []
    for piece in pieces:
        out.append(piece)
        out.append(rng.choice(SPACING) if rng.random() < exotic else " ")
    return "".join(out).strip(" ")


def title(rng: random.Random, exotic: float = 0.08) -> str:
    return _join(rng, [_piece(rng, exotic) for _ in range(rng.randint(1, 14))], exotic)


def description(rng: random.Random, exotic: float = 0.03) -> str:
    return _join(rng, [_piece(rng, exotic) for _ in range(rng.randint(40, 160))], exotic)


def titles(n: int, seed: int = 0, exotic: float = 0.08) -> list[str]:
    rng = random.Random(seed)
    return [title(rng, exotic) for _ in range(n)]


def long_runs(seed: int = 0) -> list[str]:
    """Texts with runs of 255+ UTF-16 units of various kinds, and their neighbours."""
    rng = random.Random(seed)
    runs = ["a" * 300, "a" * 255, "a" * 256, "ab." * 120, "1" * 260, "1,0" * 100, "_" * 270 + "a",
            "\U0001d400" * 140, "x" * 254 + "\U0001d400y", "ก" * 300, "カ" * 280, "中" * 300,
            "a" * 254 + "'s", "a" * 253 + ".bb", "😀" * 200, "a\u0301" * 200]
    return [rng.choice(["", "pre ", "x-"]) + r + rng.choice(["", " post", ".z"]) for r in runs]


ATTRIBUTE_NAMES = ["color", "material", "finish", "brand", "size", "voltage", "certification", "style"]
ATTRIBUTE_VALUES = ["red", "white", "black", "stainless steel", "brushed nickel", "oak", "PVC", "copper",
                    "UL listed", "Energy Star", "12 in.", "3/4 in.", "120-Volt", "modern", "traditional",
                    "outdoor", "indoor", "the", "and"]


def product_docs(n: int, seed: int = 0) -> list[dict[str, str | None]]:
    """Products with a short title, a long description (40-160 tokens, absent for one in five,
    empty or all stop words now and then) and ``name: value; ...`` attributes (absent for one in
    four)."""
    rng = random.Random(seed)
    docs: list[dict[str, str | None]] = []
    for i in range(n):
        r = rng.random()
        desc = (None if r < 0.2 else "" if r < 0.22 else "the and of it" if r < 0.24
                else description(rng))
        attrs = None if rng.random() < 0.25 else "; ".join(
            f"{rng.choice(ATTRIBUTE_NAMES)}: {rng.choice(ATTRIBUTE_VALUES)}" for _ in range(rng.randint(1, 6)))
        docs.append({"id": f"p{i:05d}", "title": title(rng, exotic=0.03), "description": desc, "attributes": attrs})
    return docs

"""The vocabulary of the generated demo catalogue: departments of related product types, with the
names shoppers use for them (synonyms), fictional brands, sizes written the Home Depot way in titles
and the way people type them in queries, finishes, materials and features."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    """A size as titles write it (``1/2 in.``) and as queries may write it (``1/2 inch``, ``1/2"``)."""

    title: str
    queries: tuple[str, ...]


@dataclass(frozen=True)
class ProductType:
    """A product type: its catalogue name and what shoppers also call it."""

    name: str
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class Department:
    """Related product types (a query for one judges the others 0) and the facets they share.

    ``pattern`` lays out a title from {brand} {line} {size} {feature} {material} {type} {finish}.
    """

    name: str
    types: tuple[ProductType, ...]
    brands: tuple[str, ...]
    sizes: tuple[Size, ...]
    finishes: tuple[str, ...]
    materials: tuple[str, ...]
    features: tuple[str, ...]
    pattern: str
    uses: tuple[str, ...]


_UNIT_FORMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "in": ("{n} in.", ("{n} inch", "{n} in", '{n}"')),
    "ft": ("{n} ft.", ("{n} foot", "{n} ft", "{n} feet")),
    "gal": ("{n}-gal.", ("{n} gallon", "{n} gal")),
    "qt": ("{n} qt.", ("{n} quart", "{n} qt")),
    "oz": ("{n} oz.", ("{n} oz", "{n} ounce")),
    "watt": ("{n}-Watt", ("{n} watt", "{n}w")),
    "volt": ("{n}-Volt", ("{n} volt", "{n}v")),
    "amp": ("{n}-Amp", ("{n} amp", "{n}a")),
    "lb": ("{n} lb.", ("{n} lb", "{n} pound")),
    "btu": ("{n} BTU", ("{n} btu",)),
    "pack": ("({n}-Pack)", ("{n} pack", "{n}pk")),
    "light": ("{n}-Light", ("{n} light",)),
    "piece": ("{n}-Piece", ("{n} piece", "{n} pc")),
    "cuft": ("{n} cu. ft.", ("{n} cu ft", "{n} cubic feet")),
    "psi": ("{n} PSI", ("{n} psi",)),
    "gpm": ("{n} GPM", ("{n} gpm",)),
    "hp": ("{n} HP", ("{n} hp", "{n} horsepower")),
}


def size(amount: str, unit: str) -> Size:
    title, queries = _UNIT_FORMS[unit]
    return Size(title.format(n=amount), tuple(q.format(n=amount) for q in queries))


def dims(width: str, height: str, unit: str = "in") -> Size:
    mark = "in." if unit == "in" else "ft."
    return Size(f"{width} {mark} x {height} {mark}", (f"{width}x{height}", f"{width} x {height}",
                                                      f"{width} {unit} x {height} {unit}"))


T = ProductType

DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "faucets",
        (T("Kitchen Faucet", ("kitchen tap", "kitchen sink tap", "kitchen mixer tap")),
         T("Bathroom Faucet", ("lavatory faucet", "bathroom sink tap", "vanity faucet", "basin tap")),
         T("Shower Head", ("showerhead", "rain shower", "shower sprayer")),
         T("Tub Spout", ("bathtub spout", "bath filler", "tub faucet"))),
        ("Aquavera", "Brookhaven", "Corlane", "Pelton Bay"),
        (size("1.2", "gpm"), size("1.8", "gpm"), size("2.5", "gpm"), size("6", "in"), size("8", "in")),
        ("Chrome", "Brushed Nickel", "Matte Black", "Oil Rubbed Bronze", "Champagne Bronze", "Stainless Steel"),
        ("Brass", "Zinc", "Stainless Steel"),
        ("Single-Handle", "Two-Handle", "Pull-Down", "Touchless", "High-Arc", "WaterSense"),
        "{brand} {line} {feature} {size} {type} in {finish}",
        ("kitchens and baths", "everyday rinsing", "busy family homes"),
    ),
    Department(
        "bath",
        (T("Toilet", ("commode", "water closet", "wc")),
         T("Toilet Seat", ("commode seat", "toilet lid")),
         T("Bathroom Vanity", ("vanity cabinet", "bath cabinet with sink", "sink cabinet")),
         T("Bathtub", ("soaking tub", "bath tub", "tub"))),
        ("Corlane", "Windmere", "Ashby & Stone", "Pelton Bay"),
        (size("24", "in"), size("30", "in"), size("36", "in"), size("48", "in"), size("60", "in")),
        ("White", "Biscuit", "Gray", "Espresso", "Bone"),
        ("Vitreous China", "Acrylic", "Solid Wood", "Porcelain"),
        ("Elongated", "Round", "Soft-Close", "Freestanding", "Alcove", "Dual-Flush"),
        "{brand} {line} {size} {feature} {material} {type} in {finish}",
        ("master baths", "guest bathrooms", "bathroom remodels"),
    ),
    Department(
        "lighting",
        (T("Ceiling Fan", ("paddle fan", "ceiling fan with light")),
         T("Pendant Light", ("hanging light", "hanging lamp", "drop light")),
         T("Flush Mount Light", ("ceiling light fixture", "close to ceiling light", "dome light")),
         T("LED Light Bulb", ("lamp bulb", "led lamp", "lightbulb")),
         T("Wall Sconce", ("wall light", "wall lamp", "wall mounted light"))),
        ("Lumora", "Brightway", "Halden", "Starlite Home"),
        (size("60", "watt"), size("100", "watt"), size("52", "in"), size("1", "light"), size("3", "light"),
         size("4", "pack")),
        ("Brushed Nickel", "Matte Black", "White", "Bronze", "Antique Brass"),
        ("Glass", "Metal", "Wood", "Seeded Glass"),
        ("Dimmable", "Energy Star", "Indoor/Outdoor", "Remote Control", "Integrated LED"),
        "{brand} {line} {size} {feature} {type} in {finish} with {material} Shade",
        ("living rooms", "kitchens", "bedrooms and hallways"),
    ),
    Department(
        "power tools",
        (T("Cordless Drill", ("battery drill", "drill driver", "power drill")),
         T("Impact Driver", ("impact drill", "impact gun")),
         T("Circular Saw", ("skill saw", "buzz saw", "skilsaw")),
         T("Reciprocating Saw", ("sawzall", "recip saw", "demolition saw")),
         T("Miter Saw", ("chop saw", "compound saw", "mitre saw"))),
        ("Voltrex", "Hartline", "Torqmaster", "Gridiron"),
        (size("12", "volt"), size("18", "volt"), size("20", "volt"), size("7-1/4", "in"), size("10", "in"),
         size("12", "in")),
        ("Tool Only", "Kit"),
        ("Steel", "Magnesium", "Aluminum"),
        ("Brushless", "Compact", "Variable Speed", "Keyless", "Heavy-Duty"),
        "{brand} {line} {size} {feature} {type} ({finish})",
        ("framing and remodeling", "contractors and DIYers", "job sites"),
    ),
    Department(
        "hand tools",
        (T("Tape Measure", ("measuring tape", "tape rule")),
         T("Utility Knife", ("box cutter", "razor knife", "carpet knife")),
         T("Adjustable Wrench", ("crescent wrench", "spanner", "monkey wrench")),
         T("Claw Hammer", ("framing hammer", "nail hammer")),
         T("Screwdriver Set", ("screw driver kit", "screwdrivers"))),
        ("Gridiron", "Hartline", "Ironclad Tool Co.", "Maxgrip"),
        (size("25", "ft"), size("16", "oz"), size("8", "in"), size("10", "in"), size("6", "piece")),
        ("Yellow", "Black", "Red", "Orange"),
        ("Steel", "Fiberglass", "Chrome Vanadium", "Titanium"),
        ("Magnetic", "Folding", "Anti-Vibe", "Ergonomic", "Locking"),
        "{brand} {line} {size} {feature} {material} {type} in {finish}",
        ("the toolbox", "trim carpentry", "everyday repairs"),
    ),
    Department(
        "paint",
        (T("Interior Paint", ("wall paint", "house paint", "room paint")),
         T("Exterior Paint", ("outdoor paint", "siding paint")),
         T("Wood Stain", ("deck stain", "timber stain", "fence stain")),
         T("Primer", ("undercoat", "sealer primer")),
         T("Spray Paint", ("aerosol paint", "rattle can paint"))),
        ("Colorwell", "Truecoat", "Pinnacle Coatings", "Evershade"),
        (size("1", "gal"), size("5", "gal"), size("1", "qt"), size("12", "oz")),
        ("Ultra Pure White", "Navy Blue", "Sage Green", "Charcoal Gray", "Tugboat", "Cedar"),
        ("Acrylic", "Latex", "Oil-Based"),
        ("Flat", "Eggshell", "Satin", "Semi-Gloss", "Gloss", "Low-VOC"),
        "{brand} {line} {size} {finish} {feature} {material} {type}",
        ("walls and trim", "decks and fences", "exterior siding"),
    ),
    Department(
        "outdoor power",
        (T("Lawn Mower", ("lawnmower", "grass cutter", "push mower")),
         T("String Trimmer", ("weed eater", "weed whacker", "strimmer")),
         T("Leaf Blower", ("blower", "leaf vacuum")),
         T("Pressure Washer", ("power washer", "jet washer")),
         T("Hedge Trimmer", ("hedge clipper", "bush trimmer", "hedge cutter"))),
        ("Greenline", "Yardmaster", "Torqmaster", "Fieldcrest"),
        (size("21", "in"), size("40", "volt"), size("3100", "psi"), size("14", "in"), size("22", "in")),
        ("Green", "Red", "Orange", "Black"),
        ("Steel Deck", "Composite", "Aluminum"),
        ("Gas", "Cordless", "Self-Propelled", "Electric", "Battery-Powered"),
        "{brand} {line} {size} {feature} {type} in {finish}",
        ("large yards", "weekend lawn care", "spring cleanup"),
    ),
    Department(
        "garden",
        (T("Garden Hose", ("water hose", "hosepipe")),
         T("Hose Nozzle", ("spray nozzle", "watering gun", "hose sprayer")),
         T("Sprinkler", ("lawn sprinkler", "oscillating sprinkler", "irrigation sprinkler")),
         T("Planter", ("flower pot", "plant pot", "plant container")),
         T("Mulch", ("wood chips", "bark mulch", "landscape mulch"))),
        ("Greenline", "Rainwise", "Bloomfield", "Terra Verde"),
        (size("50", "ft"), size("100", "ft"), size("5/8", "in"), size("12", "in"), size("2", "cuft")),
        ("Green", "Terracotta", "Black", "Brown", "Red"),
        ("Rubber", "Vinyl", "Resin", "Ceramic", "Cedar"),
        ("Kink-Free", "Heavy-Duty", "Adjustable", "Self-Watering", "Dyed"),
        "{brand} {line} {size} {feature} {material} {type} in {finish}",
        ("gardens and patios", "flower beds", "vegetable gardens"),
    ),
    Department(
        "electrical",
        (T("Extension Cord", ("power cord", "extension lead")),
         T("Surge Protector", ("power strip", "outlet strip")),
         T("Light Switch", ("wall switch", "toggle switch", "dimmer switch")),
         T("Outlet", ("receptacle", "wall plug", "electrical socket")),
         T("Smoke Detector", ("smoke alarm", "fire alarm"))),
        ("Voltline", "Safeguard", "Brightway", "Amperon"),
        (size("25", "ft"), size("15", "amp"), size("20", "amp"), size("6", "ft"), size("10", "pack")),
        ("White", "Ivory", "Light Almond", "Black", "Orange"),
        ("Copper", "Plastic", "Nylon"),
        ("Outdoor", "Tamper-Resistant", "GFCI", "Hardwired", "Battery-Operated", "Smart"),
        "{brand} {line} {size} {feature} {type} in {finish}",
        ("home offices", "garages and workshops", "code-compliant wiring"),
    ),
    Department(
        "door hardware",
        (T("Door Knob", ("door handle", "doorknob")),
         T("Deadbolt", ("door lock", "dead bolt", "keyed lock")),
         T("Door Hinge", ("hinge", "butt hinge")),
         T("Cabinet Pull", ("drawer pull", "drawer handle", "cabinet handle")),
         T("Door Lever", ("lever handle", "door lever handle"))),
        ("Ashby & Stone", "Keystone Lock", "Halden", "Ironclad Tool Co."),
        (size("3-1/2", "in"), size("4", "in"), size("5", "in"), size("10", "pack")),
        ("Satin Nickel", "Polished Brass", "Matte Black", "Venetian Bronze", "Stainless Steel"),
        ("Solid Brass", "Zinc", "Steel"),
        ("Keyed", "Privacy", "Passage", "Smart", "Keypad"),
        "{brand} {line} {finish} {feature} {material} {type} {size}",
        ("entry doors", "bedrooms and baths", "kitchen cabinets"),
    ),
    Department(
        "flooring",
        (T("Vinyl Plank Flooring", ("lvp", "luxury vinyl", "vinyl planks")),
         T("Ceramic Tile", ("floor tile", "porcelain tile", "bathroom tile")),
         T("Laminate Flooring", ("laminate floor", "floating floor")),
         T("Area Rug", ("carpet", "rug", "floor rug"))),
        ("Stonebridge", "Oakhurst", "Terra Verde", "Windmere"),
        (dims("12", "24"), dims("7.5", "47.6"), dims("5", "7", "ft"), dims("8", "10", "ft")),
        ("Gray Oak", "Natural Hickory", "White Marble", "Beige", "Walnut"),
        ("Vinyl", "Porcelain", "Polypropylene", "Wool"),
        ("Waterproof", "Click Lock", "Glazed", "Scratch-Resistant", "Stain-Resistant"),
        "{brand} {line} {finish} {size} {feature} {material} {type}",
        ("kitchens and basements", "high-traffic areas", "living rooms"),
    ),
    Department(
        "heating and cooling",
        (T("Space Heater", ("portable heater", "electric heater", "room heater")),
         T("Window Air Conditioner", ("window ac", "window unit", "room ac")),
         T("Dehumidifier", ("moisture remover", "humidity remover")),
         T("Air Filter", ("furnace filter", "hvac filter", "ac filter")),
         T("Thermostat", ("temperature control", "programmable thermostat"))),
        ("Climatech", "Northgate", "Safeguard", "Everpure"),
        (size("1500", "watt"), size("8,000", "btu"), size("12,000", "btu"), dims("16", "25"), size("6", "pack")),
        ("White", "Black", "Gray"),
        ("Ceramic", "Pleated", "Steel"),
        ("Programmable", "Smart", "Wi-Fi", "Energy Star", "MERV 11", "Quiet"),
        "{brand} {line} {size} {feature} {material} {type} in {finish}",
        ("bedrooms and basements", "year-round comfort", "allergy season"),
    ),
    Department(
        "building materials",
        (T("Drywall", ("sheetrock", "gypsum board", "wallboard")),
         T("Deck Screws", ("wood screws", "decking screws")),
         T("Concrete Mix", ("cement", "concrete")),
         T("Pressure-Treated Lumber", ("treated wood", "pt lumber", "treated board")),
         T("Insulation", ("fiberglass batts", "insulation batts", "attic insulation"))),
        ("Stonebridge", "Buildright", "Northgate", "Ironclad Tool Co."),
        (dims("4", "8", "ft"), size("1/2", "in"), size("2-1/2", "in"), size("80", "lb"), size("5", "lb")),
        ("Gray", "Tan", "Green", "Pink"),
        ("Gypsum", "Coated Steel", "Stainless Steel", "Fiberglass", "Southern Yellow Pine"),
        ("Moisture-Resistant", "Fast-Setting", "Exterior", "Fire-Rated", "Kraft-Faced"),
        "{brand} {line} {size} {feature} {material} {type} ({finish})",
        ("framing and decks", "basement finishing", "foundations and walkways"),
    ),
    Department(
        "appliances",
        (T("Refrigerator", ("fridge", "icebox")),
         T("Dishwasher", ("dish washer",)),
         T("Microwave", ("microwave oven", "otr microwave")),
         T("Range Hood", ("vent hood", "exhaust hood", "cooker hood")),
         T("Garbage Disposal", ("food waste disposer", "disposer", "garburator"))),
        ("Northgate", "Everpure", "Kitchenaire", "Climatech"),
        (size("24", "in"), size("30", "in"), size("36", "in"), size("1/2", "hp"), size("25", "cuft")),
        ("Stainless Steel", "Black Stainless", "White", "Black"),
        ("Stainless Steel", "Plastic", "Glass"),
        ("French Door", "Over-the-Range", "Built-In", "Quiet", "Counter-Depth"),
        "{brand} {line} {size} {feature} {type} in {finish}",
        ("kitchen upgrades", "busy households", "new construction"),
    ),
)

LINES: tuple[str, ...] = ("Pro", "Essentials", "Signature", "Classic", "Elite", "Select", "Heritage",
                          "Contractor", "Premium", "Everyday", "Ultra", "Studio")

BENEFITS: tuple[str, ...] = (
    "is built to last and easy to install",
    "combines clean lines with dependable performance",
    "delivers professional results at a great value",
    "is designed for years of trouble-free use",
    "offers a modern look that fits any style",
)

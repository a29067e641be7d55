"""The spec corpus: many ways fab engineers write a defect spec, per built-in class, plus text that
names no defect at all. Generated deterministically from a seed; the text encoder and the tokenizer
are trained on it, and phrasings in specs/heldout.tsv are kept out of it so they can test
generalisation to unseen wordings.

    /usr/bin/python3 models/tools/corpus.py --seed 1 --out models/specs/corpus.tsv
"""
import argparse
import random

CLASSES = ["edge-burr", "edge-chip", "scratch", "particle", "stain", "crack", "void", "hotspot"]
NONE = "none"

NOUNS = {
    "edge-burr": ["burr", "edge burr", "rim burr", "burred edge", "jagged edge", "ragged edge", "ragged rim",
                  "rough edge", "edge protrusion", "protrusions along the rim", "flash on the edge", "burr on the rim",
                  "sharp edge protrusion", "torn edge material", "spiky rim", "edge flash"],
    "edge-chip": ["chip", "edge chip", "chipped edge", "chip on the rim", "bite out of the edge", "missing piece of the edge",
                  "edge breakage", "broken edge", "chipping", "flaked edge", "rim chip", "nick in the edge", "chipped rim",
                  "edge spall"],
    "scratch": ["scratch", "surface scratch", "scrape", "scuff line", "thin line on the surface", "handling scratch",
                "micro scratch", "linear mark", "score mark", "scratch mark", "scored line", "gouge line"],
    "particle": ["particle", "foreign particle", "speck", "dust", "debris", "contamination particle", "foreign matter",
                 "fleck", "spot of dirt", "particulate", "dirt speck", "loose particle", "fall-on particle"],
    "stain": ["stain", "residue", "discoloration", "discolouration", "water mark", "watermark", "smudge", "haze patch",
              "blotch", "cloudy patch", "chemical residue", "drying mark", "film residue", "faint patch"],
    "crack": ["crack", "fracture", "hairline crack", "microcrack", "branching crack", "split", "fissure", "cleave line",
              "crack line", "stress crack", "internal crack", "crazing"],
    "void": ["void", "bonding void", "cavity", "bubble", "air pocket", "delamination void", "hollow", "gap in the bond",
             "unbonded area", "bond void", "trapped bubble", "interface void"],
    "hotspot": ["hot spot", "hotspot", "warm area", "thermal hotspot", "overheated region", "heat spot", "local heating",
                "warm spot", "thermal anomaly", "hot area", "elevated temperature spot", "heat patch"],
}

# text an engineer might type that names no defect: the encoder must not read a kind into it
UNRELATED = ["good wafer", "wafer id", "lot number", "banana", "coffee break", "room temperature", "conveyor speed",
             "operator shift", "pass everything", "nothing", "rainbow colours", "calibration plate", "robot arm position",
             "hello world", "the weather", "recipe version", "maintenance window", "clean wafer", "perfect surface",
             "test test", "asdf", "lunch", "die count", "flat zone", "notch orientation", "vacuum pressure",
             "spin speed", "exposure dose", "the line is running", "shipping label", "chuck cleaning", "reticle",
             "yield report", "camera focus", "light level", "barcode", "cassette slot", "humidity", "purge gas", "lens"]

LIMITS = ["longer than {n} {u}", "larger than {n} {u}", "over {n} {u}", "bigger than {n} {u}", "at least {n} {u}",
          "exceeding {n} {u}", "above {n} {u}", "wider than {n} {u}", "more than {n} {u} across", "greater than {n} {u}",
          "larger than {n} {u} across", "of {n} {u} or more", "beyond {n} {u}", "over {n}{u}"]
COUNTS = ["more than {k}", "at least {k}", "over {k}", "{k} or more"]
ZONES = ["within {n} mm of the centre", "within {n} mm of the center", "at the edge", "near the rim", "outside {n} mm",
         "in the centre", "in the center", "anywhere", "on the edge", "inside {n} mm", "close to the edge",
         "in the edge zone", "beyond {n} mm radius", "within the inner {n} mm"]
UNITS = ["mm", "mm", "um", "µm", "microns", "micron", "millimetres", "millimeters", "μm"]
TEMPLATES = [
    "{noun}", "{noun} {limit}", "any {noun}", "any {noun} {limit}", "{nouns} {zone}", "{noun} {limit} {zone}",
    "{noun} {zone} {limit}", "reject {noun} {limit}", "reject wafers with {noun}", "flag {noun} {zone}",
    "no {noun} {limit}", "{count} {nouns}", "{count} {nouns} {zone}", "{nouns}", "{nouns} {limit}",
    "fail on {noun} {limit}", "{zone}: {noun} {limit}", "{noun}, {limit}", "detect {noun}", "look for {noun} {zone}",
    "{noun} not allowed {zone}", "{noun} defects {limit}", "wafers showing {noun}", "{noun} of any size",
]


UNCOUNTABLE = {"dust", "debris", "residue", "foreign matter", "flash", "chipping", "crazing", "local heating", "particulate"}
PREPOSITIONS = (" on ", " of ", " in ", " along ", " out ")


def plural(noun):
    """Plural of a noun phrase: its head word (the one before a preposition, else the last)."""
    if noun in UNCOUNTABLE or noun.split(" ")[-1] in UNCOUNTABLE:
        return noun
    for p in PREPOSITIONS:
        if p in noun:
            head, rest = noun.split(p, 1)
            return plural(head) + p + rest
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def number(rng):
    return rng.choice(["0.5", "1", "1.5", "2", "3", "5", "10", "20", "50", "100", "150", "200", "250", "0.2", "30", "70", "140", "500"])


def typo(rng, text, p):
    out = []
    for w in text.split(" "):
        if len(w) > 3 and rng.random() < p:
            i = rng.randrange(len(w) - 1)
            kind = rng.randrange(3)
            if kind == 0:
                w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
            elif kind == 1:
                w = w[:i] + w[i + 1:]
            else:
                w = w[:i] + w[i] + w[i:]
        out.append(w)
    return " ".join(out)


def phrase(rng, noun):
    t = rng.choice(TEMPLATES)
    text = t.format(noun=noun, nouns=plural(noun), limit=rng.choice(LIMITS).format(n=number(rng), u=rng.choice(UNITS)),
                    zone=rng.choice(ZONES).format(n=number(rng)), count=rng.choice(COUNTS).format(k=rng.randrange(1, 6)))
    if rng.random() < 0.25:
        text = typo(rng, text, 0.3)
    if rng.random() < 0.15:
        text = text.capitalize()
    elif rng.random() < 0.05:
        text = text.upper()
    return text


def generate(seed, per_class, heldout):
    rng = random.Random(seed)
    rows = []
    seen = set(h.lower() for h in heldout)
    for cls in CLASSES:
        made = set()
        # every plain noun at least once, then templated variants
        for noun in NOUNS[cls]:
            made.add(noun)
        while len(made) < per_class:
            text = phrase(rng, rng.choice(NOUNS[cls]))
            if text.lower() not in seen:
                made.add(text)
        rows += [(cls, t) for t in sorted(made) if t.lower() not in seen]
    made = set(UNRELATED)
    while len(made) < per_class:
        a, b = rng.choice(UNRELATED), rng.choice(UNRELATED)
        text = rng.choice(["{a}", "{a} {b}", "check {a}", "{a} and {b}", "{a} {limit}", "{a} {zone}"]).format(
            a=a, b=b, limit=rng.choice(LIMITS).format(n=number(rng), u=rng.choice(UNITS)), zone=rng.choice(ZONES).format(n=number(rng)))
        if rng.random() < 0.2:
            text = typo(rng, text, 0.3)
        made.add(text)
    rows += [(NONE, t) for t in sorted(made)]
    return rows


# Everyday sentences for the text encoder's "none": a spec box also receives notes, questions and
# plant chatter, and the encoder must not read a defect kind into words it never saw. The words are
# ordinary ones; none of them names a defect, and the sentences of specs/heldout-none.tsv are left out.
EVERYDAY = {
    "thing": ["the printer", "the meeting", "the new badge", "the fire drill", "the elevator", "the kitchen", "the car",
              "the schedule", "the report", "the invoice", "the train", "the window", "the door", "the email", "the phone",
              "the laptop", "the spreadsheet", "the password", "the visitor", "the delivery", "the truck", "the forklift",
              "the storage room", "the training course", "the holiday plan", "the team", "the manager", "the customer",
              "the supplier", "the contract", "the network", "the server", "the keyboard", "the chair", "the desk",
              "the radio", "the music", "the song", "the movie", "the game", "the ticket", "the bus", "the bike",
              "the garden", "the dog", "the cat", "the weekend", "the trip", "the hotel", "the flight", "the menu"],
    "verb": ["is broken", "is late", "starts soon", "was moved", "needs a signature", "is on the second floor",
             "was cancelled", "is ready", "looks fine", "is closed", "is open until six", "needs an update",
             "was approved", "is not working", "arrives tomorrow", "is too loud", "is very slow", "has been fixed",
             "is free", "costs too much", "is full of boxes", "needs cleaning", "was great", "is at noon"],
    "ask": ["can someone check", "who has", "where is", "does anyone know about", "remember", "do not forget",
            "please send", "please bring", "please call about", "ask the supervisor about", "thanks for", "good morning, about"],
    "when": ["on monday", "on tuesday", "on thursday", "next week", "tomorrow morning", "this afternoon", "at 3 pm",
             "after the shift", "before the audit", "in march", "tonight", "every day"],
    "measure": ["temperature {n} degrees", "pressure {n} kpa", "speed {n} rpm", "voltage {n} v", "flow {n} l/min",
                "throughput {n} per hour", "uptime {n} percent", "{n} units shipped", "room {n}", "gate {n}", "version {n}"],
}


def everyday(rng, n, exclude=()):
    """n distinct everyday sentences (EVERYDAY), none equal to one in exclude (lower case)."""
    e = EVERYDAY
    forms = ["{thing} {verb}", "{thing} {verb} {when}", "{ask} {thing}", "{ask} {thing} {when}", "{thing}: {measure}",
             "{measure}", "{measure} {when}", "{thing} and {thing2} {verb}", "{ask} {thing} and {thing2}"]
    skip = {x.lower() for x in exclude}
    made = set()
    while len(made) < n:
        text = rng.choice(forms).format(
            thing=rng.choice(e["thing"]), thing2=rng.choice(e["thing"]), verb=rng.choice(e["verb"]), ask=rng.choice(e["ask"]),
            when=rng.choice(e["when"]), measure=rng.choice(e["measure"]).format(n=rng.choice(["1", "3", "12", "40", "220", "1500"])))
        if rng.random() < 0.3:
            text = text.replace("the ", "", 1)
        if rng.random() < 0.2:
            text = typo(rng, text, 0.3)
        if text.lower() not in skip:
            made.add(text)
    return sorted(made)


def read_heldout(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n").split("\t", 1)[1] for line in f if "\t" in line and not line.startswith("#")]
    except FileNotFoundError:
        return []


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-class", type=int, default=1200)
    ap.add_argument("--heldout", default="models/specs/heldout.tsv")
    ap.add_argument("--out", default="models/specs/corpus.tsv")
    ap.add_argument("--heldout-none", default="models/specs/heldout-none.tsv")
    ap.add_argument("--everyday", type=int, default=3000, help="everyday sentences for the text encoder's none (text_none.py)")
    ap.add_argument("--everyday-out", default="models/specs/everyday.tsv")
    a = ap.parse_args()
    rows = generate(a.seed, a.per_class, read_heldout(a.heldout))
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("# class<TAB>text, generated by models/tools/corpus.py --seed %d --per-class %d\n" % (a.seed, a.per_class))
        for cls, text in rows:
            f.write("%s\t%s\n" % (cls, text))
    print("%s: %d phrasings" % (a.out, len(rows)))
    daily = everyday(random.Random(a.seed), a.everyday, exclude=read_heldout(a.heldout_none) + [t for _, t in rows])
    with open(a.everyday_out, "w", encoding="utf-8") as f:
        f.write("# none<TAB>text, generated by models/tools/corpus.py --seed %d --everyday %d\n" % (a.seed, a.everyday))
        for text in daily:
            f.write("none\t%s\n" % text)
    print("%s: %d everyday sentences" % (a.everyday_out, len(daily)))

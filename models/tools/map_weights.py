"""Chooses, per class, how much of the map's evidence a crop verifier's confidence takes in, and how
many of each map's highest places are cropped, on a calibration lot, and writes both into the model's
manifest (verifier.mapWeights, verifier.perClass). For a class with rim places (verifier.rim, checks
with `rimMm`), the rim's weight per mm it stands off its circle and the least it must stand off to be
checked are chosen with the map's weight; its rim places are kept only where they find more. Likewise
for a class with die places (verifier.dies, checks with `dieCount`): the weight per cell standing out,
the least count checked and how many places.

A crop's confidence is sigmoid(logit(crop probability) + w x logit(map score)). For each class, each
number of places k (the first k checks of each class, highest map score first) and each w, the
threshold is the RANK-th highest confidence among the lot's good wafers (1: the highest; the station's
thresholds sit at the rank their false-reject budget gives each spec, `calibrate thresholds`), and a
defect wafer counts as found when a check within its half size plus 7.5 mm (FOUND_WITHIN_MM) is over
it. Per k, the w that finds most is kept, and a class the map alone finds as many of (the largest w)
is left to the map, without a weight; the k whose classes find most in all is kept (the fewest crops
on a tie).

    wafer-inspect model candidates LOT --model MODEL --out LOT.checks.jsonl     (checks per class: the manifest's perClass)
    /usr/bin/python3 models/tools/map_weights.py --checks LOT.checks.jsonl --model MODEL [--rank 2] [--per-class 6,8,12]
"""
import argparse
import json
import os

import numpy as np

WEIGHTS = [0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 10, 12, 16]
# per mm the rim stands off its circle, for classes with rim places (verifier.rim)
RIM_WEIGHTS = [0, 2, 4, 6, 8, 12, 16, 24, 32]
# least standing off for a rim place to be checked, mm (verifier.rim minMm); the checks file's own is the lowest
RIM_MINS = [0.15, 0.2, 0.25, 0.3, 0.4]
# per cell standing out, for classes with die places (verifier.dies); least count checked; places checked;
# the map's weight at a die place, its own: the place is one the map may have missed
DIE_WEIGHTS = [0, 0.1, 0.2, 0.4]
DIE_MINS = [0, 5, 7, 9, 12]
DIE_TOPS = [2, 4, 8]
DIE_MAP_WEIGHTS = [0, 0.5, 1]
MAP_ONLY = 1000.0
# the places checked besides the map's: the manifest's key, the checks' key and its grids (weight per unit, least, top)
# (None as the map's weight: the class's own)
EXTRA = {
    "rim": ("rimMm", RIM_WEIGHTS, RIM_MINS, [None], [None]),
    "dies": ("dieCount", DIE_WEIGHTS, DIE_MINS, DIE_TOPS, DIE_MAP_WEIGHTS),
}
FOUND_WITHIN_MM = 7.5


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def prepare(rows, cls, key="rimMm"):
    """Per wafer: good or not, has the class, and per check logit(prob), logit(score), its place's own
    evidence (how far the rim stands off its circle, or the cells standing out from the dies; 0 for a
    map place), whether it is a map place, whether it is on a defect."""
    out = []
    for r in rows:
        checks = r["candidates"][cls]
        ds = [d for d in r["truth"] if d["class"] == cls]
        near = np.array([any(np.hypot(c["xMm"] - d["xMm"], c["yMm"] - d["yMm"]) <= d["sizeMm"] / 2 + FOUND_WITHIN_MM for d in ds) for c in checks], dtype=bool)
        rim = np.array([abs(c.get(key, 0.0)) for c in checks])
        on_map = np.array(["rimMm" not in c and "dieCount" not in c for c in checks], dtype=bool)
        out.append((not r["truth"], bool(ds), logit([c["prob"] for c in checks]), logit([c["score"] for c in checks]), rim, on_map, near))
    return out


def found(wafers, w, k, rank, v=0.0, rim=True, least=0.0, top=None, wx=None):
    """Defect wafers found, and the threshold, for map weight w and the extra places' weight v on the
    first k map places and (rim) the first `top` extra places (all: None) whose own evidence is at
    least `least`, the map weighing wx at those (w: None)."""
    def take(on_map, rm):
        idx = np.flatnonzero(on_map)[:k]
        if rim:
            idx = np.concatenate([idx, np.flatnonzero(~on_map & (rm >= least))[:top]])
        return idx

    def conf(lp, ls, rm, om, i):
        if w == MAP_ONLY:
            return ls[i]
        return lp[i] + (w if wx is None else np.where(om[i], w, wx)) * ls[i] + v * rm[i]
    good = sorted((conf(lp, ls, rm, om, take(om, rm)).max() if len(take(om, rm)) else -np.inf for g, _, lp, ls, rm, om, _ in wafers if g), reverse=True)
    thr = good[rank - 1]
    n = 0
    for _, has, lp, ls, rm, om, near in wafers:
        i = take(om, rm)
        if has and len(i) and (conf(lp, ls, rm, om, i)[near[i]] > thr).any():
            n += 1
    return n, thr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", required=True, help="`wafer-inspect model candidates` of the calibration lot, with the verifier's checks")
    ap.add_argument("--model", required=True, help="model folder whose model.json gets the weights and checks per class")
    ap.add_argument("--rank", type=int, default=1, help="threshold at the RANK-th highest good wafer's confidence")
    ap.add_argument("--per-class", default=None, help="numbers of checks per class to try, comma separated (default: all the checks file has)")
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(a.checks)]
    path = os.path.join(a.model, "model.json")
    m = json.load(open(path))
    classes = m["verifier"]["classes"]
    have = max(sum("rimMm" not in x and "dieCount" not in x for x in r["candidates"][c]) for r in rows for c in classes)
    # per class, the kind of places it has besides the map's (a class has one kind at most)
    extra = {c: kind for c in classes for kind, (key, *_) in EXTRA.items() if any(key in x for r in rows for x in r["candidates"][c])}
    ks = [int(k) for k in a.per_class.split(",")] if a.per_class else [have]
    if max(ks) > have:
        raise SystemExit(f"{a.checks} has at most {have} checks per class; make it with a model whose verifier.perClass is {max(ks)}")
    wafers = {cls: prepare(rows, cls, EXTRA[extra[cls]][0] if cls in extra else "rimMm") for cls in classes}
    best_k = None
    for k in ks:
        weights, kept, table, total = {}, {}, {}, 0
        for cls in classes:
            n = sum(1 for _, has, *_ in wafers[cls] if has)
            by_w = {w: found(wafers[cls], w, k, a.rank, rim=False)[0] for w in WEIGHTS + [MAP_ONLY]}
            best = max(WEIGHTS, key=lambda w: (by_w[w], -abs(w - 1)))
            table[cls] = by_w
            print(f"{k} checks, {cls}: {n} wafers; found by weight {json.dumps({str(w): v for w, v in by_w.items()})}")
            if cls in extra:
                kind = extra[cls]
                _, vs, mins, tops, wxs = EXTRA[kind]
                # the map weight and the places' own weight together; the places kept only where they find more
                by = {(w, v, mn, tp, wx): found(wafers[cls], w, k, a.rank, v, least=mn, top=tp, wx=wx)[0] for w in WEIGHTS for v in vs for mn in mins for tp in tops for wx in wxs}
                # on a tie: the map weight nearest 1, the least weight of their own, the most of them from the least evidence, the fewest checked
                c_r = max(by, key=lambda c: (by[c], -abs(c[0] - 1), -c[1], -c[2], -(c[3] or 0), -(c[4] or 0)))
                w_r, v_r, m_r, t_r, x_r = c_r
                # at the map weights and number chosen, by their own weight and least evidence ("weight/least")
                table[f"{cls} with {kind} places"] = {f"{v}/{mn}": n for (w, v, mn, tp, wx), n in by.items() if (w, tp, wx) == (w_r, t_r, x_r)}
                print(f"  with {kind} places" + (f", the first {t_r}" if t_r else "") + f" from {m_r}: map weight {w_r}" + (f" ({x_r} at theirs)" if x_r is not None else "") + f", their weight {v_r}: {by[c_r]}")
                if by[c_r] > max(by_w[best], by_w[MAP_ONLY]):
                    weights[cls], kept[cls] = w_r, (v_r, m_r, t_r, x_r)
                    total += by[c_r]
                    continue
                print(f"  {kind} places find no more: left out")
            if by_w[best] > by_w[MAP_ONLY]:
                weights[cls] = best
                print(f"  weight {best}: {by_w[best]} against {by_w[MAP_ONLY]} on the map alone")
            else:
                print(f"  judged on the map: {by_w[MAP_ONLY]}, the crops add none")
            total += max(by_w[best], by_w[MAP_ONLY])
        print(f"{k} checks per class: {total} defect wafers found in all")
        if best_k is None or total > best_k[1]:
            best_k = (k, total, weights, kept, table)
    k, total, weights, kept, table = best_k
    m["verifier"]["perClass"] = k
    m["verifier"]["mapWeights"] = weights
    for kind in EXTRA:
        places = m["verifier"].get(kind, {})
        for cls in [c for c in classes if extra.get(c) == kind]:
            if cls not in kept:
                places.pop(cls, None)
            elif kind == "rim":
                places[cls]["weight"], places[cls]["minMm"] = kept[cls][:2]
            else:
                places[cls].update(weight=kept[cls][0], minCount=kept[cls][1], top=kept[cls][2], mapWeight=kept[cls][3])
        if kind in m["verifier"] or places:
            m["verifier"][kind] = places
    m["verifier"]["mapWeightsFrom"] = {"checks": os.path.basename(a.checks), "goodWafers": sum(not r["truth"] for r in rows), "rank": a.rank, "perClass": k, "found": table}
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"wrote {path}: {k} checks per class, weights {weights}, " + ", ".join(f"{kind} {json.dumps(m['verifier'].get(kind, {}))}" for kind in EXTRA))


if __name__ == "__main__":
    main()

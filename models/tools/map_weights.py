"""Chooses, per class, how much of the map's evidence a crop verifier's confidence takes in, and how
many of each map's highest places are cropped, on a calibration lot, and writes both into the model's
manifest (verifier.mapWeights, verifier.perClass). For a class with rim places (verifier.rim, checks
with `rimMm`), the rim's weight per mm it stands off its circle and the least it must stand off to be
checked are chosen with the map's weight; its rim places are kept only where they find more.

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
MAP_ONLY = 1000.0
FOUND_WITHIN_MM = 7.5


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def prepare(rows, cls):
    """Per wafer: good or not, has the class, and per check logit(prob), logit(score), how far the rim
    stands off its circle there (0 for a map place), whether it is a map place, whether it is on a defect."""
    out = []
    for r in rows:
        checks = r["candidates"][cls]
        ds = [d for d in r["truth"] if d["class"] == cls]
        near = np.array([any(np.hypot(c["xMm"] - d["xMm"], c["yMm"] - d["yMm"]) <= d["sizeMm"] / 2 + FOUND_WITHIN_MM for d in ds) for c in checks], dtype=bool)
        rim = np.array([abs(c.get("rimMm", 0.0)) for c in checks])
        on_map = np.array(["rimMm" not in c for c in checks], dtype=bool)
        out.append((not r["truth"], bool(ds), logit([c["prob"] for c in checks]), logit([c["score"] for c in checks]), rim, on_map, near))
    return out


def found(wafers, w, k, rank, v=0.0, rim=True, least=0.0):
    """Defect wafers found, and the threshold, for map weight w and rim weight v on the first k map
    places and (rim) the rim places standing off at least `least` mm."""
    def take(on_map, rm):
        idx = np.flatnonzero(on_map)[:k]
        if rim:
            idx = np.concatenate([idx, np.flatnonzero(~on_map & (rm >= least))])
        return idx

    def conf(lp, ls, rm, i):
        return ls[i] if w == MAP_ONLY else lp[i] + w * ls[i] + v * rm[i]
    good = sorted((conf(lp, ls, rm, take(om, rm)).max() if len(take(om, rm)) else -np.inf for g, _, lp, ls, rm, om, _ in wafers if g), reverse=True)
    thr = good[rank - 1]
    n = 0
    for _, has, lp, ls, rm, om, near in wafers:
        i = take(om, rm)
        if has and len(i) and (conf(lp, ls, rm, i)[near[i]] > thr).any():
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
    have = max(sum("rimMm" not in x for x in r["candidates"][c]) for r in rows for c in classes)
    rim_classes = [c for c in classes if any("rimMm" in x for r in rows for x in r["candidates"][c])]
    ks = [int(k) for k in a.per_class.split(",")] if a.per_class else [have]
    if max(ks) > have:
        raise SystemExit(f"{a.checks} has at most {have} checks per class; make it with a model whose verifier.perClass is {max(ks)}")
    wafers = {cls: prepare(rows, cls) for cls in classes}
    best_k = None
    for k in ks:
        weights, rims, table, total = {}, {}, {}, 0
        for cls in classes:
            n = sum(1 for _, has, *_ in wafers[cls] if has)
            by_w = {w: found(wafers[cls], w, k, a.rank, rim=False)[0] for w in WEIGHTS + [MAP_ONLY]}
            best = max(WEIGHTS, key=lambda w: (by_w[w], -abs(w - 1)))
            table[cls] = by_w
            print(f"{k} checks, {cls}: {n} wafers; found by weight {json.dumps({str(w): v for w, v in by_w.items()})}")
            if cls in rim_classes:
                # the map weight and the rim's weight together; rim places kept only where they find more
                by_wv = {(w, v, m): found(wafers[cls], w, k, a.rank, v, least=m)[0] for w in WEIGHTS for v in RIM_WEIGHTS for m in RIM_MINS}
                # on a tie: the map weight nearest 1, the least rim weight, the most rim places
                w_r, v_r, m_r = max(by_wv, key=lambda wvm: (by_wv[wvm], -abs(wvm[0] - 1), -wvm[1], -wvm[2]))
                # at the map weight chosen, by rim weight and least standing off ("weight/mm")
                table[cls + " with rim places"] = {f"{v}/{m}": n for (w, v, m), n in by_wv.items() if w == w_r}
                print(f"  with rim places from {m_r} mm: map weight {w_r}, rim weight {v_r} per mm: {by_wv[(w_r, v_r, m_r)]}")
                if by_wv[(w_r, v_r, m_r)] > max(by_w[best], by_w[MAP_ONLY]):
                    weights[cls], rims[cls] = w_r, (v_r, m_r)
                    total += by_wv[(w_r, v_r, m_r)]
                    continue
                print("  rim places find no more: left out")
            if by_w[best] > by_w[MAP_ONLY]:
                weights[cls] = best
                print(f"  weight {best}: {by_w[best]} against {by_w[MAP_ONLY]} on the map alone")
            else:
                print(f"  judged on the map: {by_w[MAP_ONLY]}, the crops add none")
            total += max(by_w[best], by_w[MAP_ONLY])
        print(f"{k} checks per class: {total} defect wafers found in all")
        if best_k is None or total > best_k[1]:
            best_k = (k, total, weights, rims, table)
    k, total, weights, rims, table = best_k
    m["verifier"]["perClass"] = k
    m["verifier"]["mapWeights"] = weights
    rim = m["verifier"].get("rim", {})
    for cls in rim_classes:
        if cls in rims:
            rim[cls]["weight"], rim[cls]["minMm"] = rims[cls]
        else:
            rim.pop(cls, None)
    if rim_classes:
        m["verifier"]["rim"] = rim
    m["verifier"]["mapWeightsFrom"] = {"checks": os.path.basename(a.checks), "goodWafers": sum(not r["truth"] for r in rows), "rank": a.rank, "perClass": k, "found": table}
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"wrote {path}: {k} checks per class, weights {weights}, rim {json.dumps(rim)}")


if __name__ == "__main__":
    main()

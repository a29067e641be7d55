/**
 * Closed-loop stability of the run-to-run controllers for a process y = α + β·u + noise controlled
 * with a model gain b. ξ = β / b is the ratio of true to model gain; the loop is checked at every ξ
 * in the stated uncertainty range. Both conditions describe an interval 0 < ξ < ξmax, so checking the
 * two ends of the range is enough.
 *
 * EWMA: the offset estimate evolves as a ← (1 − w·ξ)·a + const, stable iff 0 < w·ξ < 2.
 *
 * Double EWMA (offset weight w1, drift weight w2):
 *   a_t = w1·c_t + (1 − w1)·a_{t−1}
 *   D_t = w2·(c_t − a_{t−1}) + (1 − w2)·D_{t−1}        with c_t = y_t − b·u_t,  u_{t+1} = (T − a_t − D_t)/b
 * gives the state matrix [[1 − w1·ξ, −w1·(ξ − 1)], [−w2·ξ, 1 − w2·ξ]] and the characteristic polynomial
 *   z² − (2 − ξ(w1 + w2))·z + (1 − ξ(w1 + w2) + ξ·w1·w2).
 * The Jury conditions for both roots inside the unit circle are
 *   ξ·w1·w2 > 0,   ξ·(w1 + w2 − w1·w2) < 2,   ξ·(2(w1 + w2) − w1·w2) < 4,
 * so with 0 < w1, w2 ≤ 1 the loop is stable iff 0 < ξ < min(2 / (w1 + w2 − w1·w2), 4 / (2(w1 + w2) − w1·w2)).
 * With w2 = 0 it reduces to the EWMA condition plus a root at 1 (the drift term never moves).
 */

export function ewmaStable(w: number, xi: number): boolean {
  return w * xi > 0 && w * xi < 2;
}

/** The largest true/model gain ratio the double EWMA tolerates. */
export function dewmaMaxRatio(w1: number, w2: number): number {
  return Math.min(2 / (w1 + w2 - w1 * w2), 4 / (2 * (w1 + w2) - w1 * w2));
}

export function dewmaStable(w1: number, w2: number, xi: number): boolean {
  return xi * w1 * w2 > 0 && xi * (w1 + w2 - w1 * w2) < 2 && xi * (2 * (w1 + w2) - w1 * w2) < 4;
}

export type ControllerKind = { kind: 'ewma'; weight: number } | { kind: 'dewma'; weight: number; driftWeight: number };

/**
 * Why a controller with model gain `gain` would be unstable for some true gain in [trueMin, trueMax],
 * or undefined when it is stable over the whole range.
 */
export function stabilityProblem(c: ControllerKind, gain: number, trueMin: number, trueMax: number): string | undefined {
  if (gain === 0) return 'model gain 0 cannot be inverted';
  const ratios = [trueMin / gain, trueMax / gain];
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  if (!(lo > 0)) return `true gain range ${trueMin}..${trueMax} includes 0 or the opposite sign of the model gain ${gain}: no controller is stable`;
  if (c.kind === 'ewma') {
    if (!ewmaStable(c.weight, hi)) return `w·(true/model gain) reaches ${fmt(c.weight * hi)} (w ${c.weight}, ratio up to ${fmt(hi)}); it must stay below 2: lower the weight below ${fmt(2 / hi)} or raise the model gain`;
    return undefined;
  }
  const max = dewmaMaxRatio(c.weight, c.driftWeight);
  if (!dewmaStable(c.weight, c.driftWeight, hi)) return `true/model gain ratio reaches ${fmt(hi)} but a double EWMA with weights ${c.weight}, ${c.driftWeight} is stable only below ${fmt(max)}: lower the weights or raise the model gain`;
  return undefined;
}

function fmt(x: number): string {
  return Number(x.toPrecision(3)).toString();
}

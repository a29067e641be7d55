/**
 * A verifier's look around a class's highest places (manifest `verifier.around`). A small defect the
 * map peaks beside, a few mm off, lies outside a crop cut at the peak; crops at the eight places a
 * step away cover it, and the one that shows the defect most surely stands for the place.
 */
export interface Around {
  /** how many of the class's highest places are looked around */
  top: number;
  stepMm: number;
}

export interface Crop {
  xMm: number;
  yMm: number;
  /** the index of the place it was cut for */
  of: number;
}

const AROUND = [[-1, -1], [0, -1], [1, -1], [-1, 0], [1, 0], [-1, 1], [0, 1], [1, 1]] as const;

/** The crops for a class's places: each place itself, in order, then the eight around each of the first `around.top`. */
export function lookAt(places: ReadonlyArray<{ xMm: number; yMm: number }>, around: Around | undefined): Crop[] {
  const crops: Crop[] = places.map((p, of) => ({ xMm: p.xMm, yMm: p.yMm, of }));
  if (!around) return crops;
  const d = around.stepMm;
  places.slice(0, around.top).forEach((p, of) => {
    for (const [dx, dy] of AROUND) crops.push({ xMm: p.xMm + dx * d, yMm: p.yMm + dy * d, of });
  });
  return crops;
}

/** Per place, the index of its crop with the highest probability (the place's own crop on a tie). */
export function surest(crops: ReadonlyArray<Crop>, places: number, prob: (crop: number) => number): number[] {
  const best = new Array<number>(places).fill(-1);
  crops.forEach((c, n) => {
    if (best[c.of] < 0 || prob(n) > prob(best[c.of])) best[c.of] = n;
  });
  return best;
}

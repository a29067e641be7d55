/**
 * How far down its good wafers' scores each spec's threshold may sit, for a false-reject budget that
 * holds on wafers the calibration never saw.
 *
 * With N good wafers whose highest scores are exchangeable with a new good wafer's, a threshold at the
 * k-th highest of them is exceeded by the new wafer with probability k / (N + 1) (an order statistic;
 * conformal prediction uses the same bound). Over several specs the chances add up at most, so ranks
 * k_j with sum k_j <= target * (N + 1) keep the expected false-reject rate on new wafers within the
 * target. Taking a quantile of the calibration wafers alone does not: each spec's threshold then lets
 * through about one more new wafer than calibration wafers, which over eight specs is most of a 0.3%
 * budget.
 */
export interface RankAllocation {
  /** per spec, 1 = the highest good score */
  ranks: number[];
  /** sum of ranks / (N + 1): the bound on the expected false-reject rate on new good wafers */
  expectedFrr: number;
  /** false when the good wafers are too few for even the highest score per spec to meet the target */
  meetsTarget: boolean;
}

/** How many ranks a target leaves for N good wafers: sum k_j <= target * (N + 1). */
export function rankBudget(targetFrr: number, goodWafers: number): number {
  return Math.floor(targetFrr * (goodWafers + 1) + 1e-9);
}

/** The fewest good wafers whose budget gives every spec rank 1 (the highest good score). */
export function goodWafersFor(specs: number, targetFrr: number): number {
  return Math.ceil((specs - 1e-9) / targetFrr) - 1;
}

/**
 * Every spec starts at rank 1; the ranks the budget leaves over go, one step at a time, to the spec
 * whose threshold would let the most known defects through per rank spent (`defects`: per spec, the
 * scores of calibration wafers that have its defect). A step that finds none is not taken, so the
 * budget is left unspent rather than spent where it buys nothing measurable. Without defects the ranks
 * are shared out evenly.
 */
export function allocateRanks(goodDesc: number[][], defects: number[][] | null, targetFrr: number): RankAllocation {
  const specs = goodDesc.length;
  const n = Math.min(...goodDesc.map((g) => g.length));
  const budget = rankBudget(targetFrr, n);
  const ranks = goodDesc.map(() => 1);
  let left = budget - specs;
  if (left > 0 && !defects) {
    const each = Math.floor(left / specs);
    ranks.fill(1 + each);
    left -= each * specs;
  }
  const caught = defects?.map((d) => Float64Array.from(d).sort());
  // defects of spec j scoring above x: a binary search, so a lot of many good wafers (a large budget) stays quick
  const above = (j: number, x: number): number => {
    const d = caught![j];
    let lo = 0;
    let hi = d.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (d[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return d.length - lo;
  };
  while (caught && left > 0) {
    let best: { j: number; step: number; rate: number } | null = null;
    for (let j = 0; j < specs; j++) {
      const from = above(j, goodDesc[j][ranks[j] - 1]);
      for (let step = 1; step <= left && ranks[j] + step <= n; step++) {
        const gained = above(j, goodDesc[j][ranks[j] + step - 1]) - from;
        if (gained > 0 && (!best || gained / step > best.rate)) best = { j, step, rate: gained / step };
      }
    }
    if (!best) break;
    ranks[best.j] += best.step;
    left -= best.step;
  }
  const used = ranks.reduce((a, k) => a + k, 0);
  return { ranks, expectedFrr: used / (n + 1), meetsTarget: used <= budget };
}

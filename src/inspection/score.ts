import { median } from '../common/percentiles.js';
import type { TruthDefect } from '../common/defects.js';
import type { InspectedWafer } from './inspector.js';
import type { JudgedSpec } from './judge.js';

/**
 * How a replay's verdicts compare with the lot's truth. A truth defect counts for a spec when it is of
 * the spec's class and breaks the spec's size and zone limits; it is found when a finding of that
 * spec lies within reach of it (its half size plus FOUND_WITHIN_MM). A spec that could not be checked
 * on a wafer (a modality it needs missing or corrupt) has no positives there.
 */
export interface ClassScore {
  positives: number;
  found: number;
  recall: number;
  /** the same by the defects' true size: where a class's detection limit lies (SIZE_BINS_MM, empty bins left out) */
  bySize: Array<{ fromMm: number; toMm: number | null; positives: number; found: number }>;
}

/**
 * How far beyond a truth defect's half size a region may lie and still be that defect, mm: a cell and
 * a half of a 5 mm score map, whatever the model's cells, so that models compare. Scoring and the size
 * calibration both match regions to truth with it.
 */
export const FOUND_WITHIN_MM = 7.5;

/** Lower edges of the size bins recall is broken down by, mm; the last bin is open. */
export const SIZE_BINS_MM = [0, 2, 3, 5, 8, 12, 20, 40] as const;

function sizeBin(c: ClassScore, sizeMm: number): ClassScore['bySize'][number] {
  const k = Math.max(0, SIZE_BINS_MM.filter((b) => sizeMm >= b).length - 1);
  const fromMm = SIZE_BINS_MM[k];
  let bin = c.bySize.find((b) => b.fromMm === fromMm);
  if (!bin) {
    bin = { fromMm, toMm: SIZE_BINS_MM[k + 1] ?? null, positives: 0, found: 0 };
    c.bySize.push(bin);
    c.bySize.sort((a, b) => a.fromMm - b.fromMm);
  }
  return bin;
}

export interface ReplayScore {
  /** wafers with truth (labelled), and of them those with no defect at all */
  labelled: number;
  good: number;
  /** good wafers judged pass or fail (the rest were not inspected), and of them those that failed */
  goodJudged: number;
  falseRejects: number;
  falseRejectRate: number;
  /** wafers with at least one defect that breaks a spec judged pass or fail, and of them those that failed */
  shouldFail: number;
  failed: number;
  waferRecall: number;
  /** wafers with a defect that breaks a spec that were not inspected: in neither rate, never passed */
  shouldFailNotInspected: number;
  perClass: Record<string, ClassScore>;
  /** distance between a found defect's truth and its finding, mm */
  localisationMedianMm: number;
  notInspected: number;
}

export function breaks(spec: JudgedSpec, d: TruthDefect): boolean {
  if (d.class !== spec.kind) return false;
  if (spec.zone) {
    const r = Math.hypot(d.xMm, d.yMm);
    if (r < spec.zone.minRadiusMm || r > spec.zone.maxRadiusMm) return false;
  }
  if (spec.size) return spec.size.inclusive ? d.sizeMm >= spec.size.mm : d.sizeMm > spec.size.mm;
  return true;
}

export function scoreReplay(items: InspectedWafer[], specs: JudgedSpec[]): ReplayScore {
  const perClass: Record<string, ClassScore> = {};
  const distances: number[] = [];
  let labelled = 0;
  let good = 0;
  let goodInspected = 0;
  let falseRejects = 0;
  let shouldFail = 0;
  let shouldFailNotInspected = 0;
  let failed = 0;
  let notInspected = 0;
  for (const { record, truth } of items) {
    if (record.verdict === 'not-inspected') notInspected++;
    if (!truth) continue;
    labelled++;
    if (truth.length === 0) {
      good++;
      if (record.verdict !== 'not-inspected') goodInspected++;
      if (record.verdict === 'fail') falseRejects++;
      continue;
    }
    let breaking = false;
    for (const d of truth) {
      for (const spec of specs) {
        if (spec.count || !breaks(spec, d)) continue;
        breaking = true;
        if (spec.modalities.some((m) => record.modalities[m] !== 'ok')) continue;
        const c = (perClass[d.class] ??= { positives: 0, found: 0, recall: 0, bySize: [] });
        const bin = sizeBin(c, d.sizeMm);
        c.positives++;
        bin.positives++;
        const reach = d.sizeMm / 2 + FOUND_WITHIN_MM;
        const hits = record.findings.filter((f) => f.spec === spec.id).map((f) => Math.hypot(f.xMm - d.xMm, f.yMm - d.yMm));
        const nearest = Math.min(Infinity, ...hits);
        if (nearest <= reach) {
          c.found++;
          bin.found++;
          distances.push(nearest);
        }
      }
    }
    if (breaking && record.verdict === 'not-inspected') shouldFailNotInspected++;
    else if (breaking) {
      shouldFail++;
      if (record.verdict === 'fail') failed++;
    }
  }
  for (const c of Object.values(perClass)) c.recall = c.positives ? c.found / c.positives : NaN;
  return {
    labelled,
    good,
    goodJudged: goodInspected,
    falseRejects,
    falseRejectRate: goodInspected ? falseRejects / goodInspected : NaN,
    shouldFail,
    failed,
    waferRecall: shouldFail ? failed / shouldFail : NaN,
    shouldFailNotInspected,
    perClass,
    localisationMedianMm: distances.length ? median(distances) : NaN,
    notInspected,
  };
}

import type { TruthDefect } from '../common/defects.js';
import type { Modality } from '../common/modality.js';
import type { Check } from '../model/image.js';
import type { Zone } from '../specs/limits.js';
import { NEEDED_MODALITIES } from '../specs/read.js';
import { roundThreshold, type ModelThresholds } from '../specs/thresholds.js';
import { normalise } from './judge.js';
import { allocateRanks, goodWafersFor, rankBudget } from './ranks.js';
import { defectRegions, type MapGeometry } from './regions.js';
import { FOUND_WITHIN_MM } from './score.js';

/** What calibration needs of a spec: its words, its class, and where it applies. */
export interface CalibratedSpec {
  text: string;
  kind: string;
  zone?: Zone;
  /** judged by the model's verifier: its statistic is the highest confidence of the wafer's checks in the zone */
  by?: 'crops';
}

export interface ScoredWafer {
  wafer: string;
  truth?: TruthDefect[];
  /** raw scores, [specs x cells] in the order of the specs being calibrated */
  scores: Float32Array;
  /** per spec, the verifier's checks (for the specs judged by them) */
  checks?: ReadonlyArray<Check[] | null>;
}

/**
 * A thresholds file's `without` entry for one missing modality: of the calibrated specs (the first
 * `classes` are the classes' canonical ones, the rest a recipe's zoned specs), those that can be
 * checked without it (contracts §3), each with its threshold from the good wafers scored without it
 * (`thresholds`, in the specs' order).
 */
export function withoutEntry(specs: CalibratedSpec[], classes: number, thresholds: number[], missing: Modality): NonNullable<ModelThresholds['without'][Modality]> {
  const kept = specs.map((s, j) => ({ s, threshold: roundThreshold(thresholds[j]), own: j < classes })).filter(({ s }) => !NEEDED_MODALITIES[s.kind]?.includes(missing));
  return {
    kinds: Object.fromEntries(kept.filter((k) => k.own).map((k) => [k.s.kind, { threshold: k.threshold }])),
    specs: kept.filter((k) => !k.own).map((k) => ({ text: k.s.text, threshold: k.threshold })),
  };
}

function inZone(zone: Zone | undefined, x: number, y: number): boolean {
  if (!zone) return true;
  const r = Math.hypot(x, y);
  return r >= zone.minRadiusMm && r <= zone.maxRadiusMm;
}

/**
 * Score thresholds for a target false-reject rate on known-good wafers, the way Anomalib sets its
 * operating point: per spec, the highest score each good wafer reaches in the spec's zone, and the
 * threshold one of the highest of those. How far down each spec may go is `allocateRanks`' (ranks.ts):
 * together the specs' ranks keep the expected rate on new good wafers within the target, and the ranks
 * beyond the first go where the defect wafers show they catch most. A spec with a zone goes as far
 * down its own scores as its class's spec does. Too few good wafers for the target: each threshold is
 * the highest good score, and the result says so.
 */
export class ThresholdCalibration {
  private readonly goodMax: number[][];
  private readonly defectMax: Array<Array<{ score: number; present: boolean }>>;
  private readonly sizes: Record<string, Array<[number, number]>> = {};

  constructor(
    readonly specs: CalibratedSpec[],
    readonly map: MapGeometry,
  ) {
    this.goodMax = specs.map(() => []);
    this.defectMax = specs.map(() => []);
  }

  private maxInZone(w: ScoredWafer, j: number): number {
    const zone = this.specs[j].zone;
    if (this.specs[j].by === 'crops') {
      const checks = w.checks?.[j];
      if (!checks) throw new Error(`${w.wafer}: spec "${this.specs[j].text}" is judged by the verifier, and the wafer was scored without its checks`);
      return checks.reduce((m, c) => (c.confidence > m && inZone(zone, c.xMm, c.yMm) ? c.confidence : m), 0);
    }
    const N = this.map.size;
    const cells = N * N;
    let m = 0;
    for (let k = 0; k < cells; k++) {
      const v = w.scores[j * cells + k];
      if (v <= m) continue;
      const x = this.map.x0 + ((k % N) + 0.5) * this.map.cellMm;
      const y = this.map.y0 - (Math.floor(k / N) + 0.5) * this.map.cellMm;
      if (inZone(zone, x, y)) m = v;
    }
    return m;
  }

  add(w: ScoredWafer): void {
    const truth = w.truth ?? [];
    this.specs.forEach((s, j) => {
      const m = this.maxInZone(w, j);
      if (truth.length === 0) this.goodMax[j].push(m);
      else this.defectMax[j].push({ score: m, present: truth.some((d) => d.class === s.kind && inZone(s.zone, d.xMm, d.yMm)) });
    });
    // size fit: wafers with one defect, the region of its class's spec that holds it
    if (truth.length === 1) {
      const d = truth[0];
      // a verified class is sized by the verifier's own fit (its manifest), not by map regions
      const j = this.specs.findIndex((s) => s.kind === d.class && !s.zone && s.by !== 'crops');
      if (j >= 0) this.pendingSizes.push({ j, d, scores: w.scores });
    }
  }

  private readonly pendingSizes: Array<{ j: number; d: TruthDefect; scores: Float32Array }> = [];

  /** `ranks`: per spec, as another calibration of the same good wafers chose them (a modality left out is judged as far down as the complete wafers) */
  result(targetFrr: number, ranks?: number[]): {
    specs: Array<{ text: string; kind: string; threshold: number; goodMax: number; rank: number; recall: number | null }>;
    sizeFits: Record<string, { slope: number; offset: number; spread: number; samples: number }>;
    goodWafers: number;
    /** the bound on the expected false-reject rate on new good wafers, whether it is within the target, and the good wafers that would let it be */
    expectedFrr: number;
    meetsTarget: boolean;
    goodWafersNeeded: number;
  } {
    const goodDesc = this.goodMax.map((g) => [...g].sort((a, b) => b - a));
    if (goodDesc[0].length === 0) throw new Error('no good wafers to calibrate on');
    // a zoned spec follows its class's spec; the rest share the budget
    const follows = this.specs.map((s) => (s.zone ? this.specs.findIndex((c) => !c.zone && c.kind === s.kind) : -1));
    const counted = this.specs.map((_, j) => j).filter((j) => follows[j] < 0);
    const present = this.defectMax.map((d) => d.filter((x) => x.present).map((x) => x.score));
    const anyDefects = present.some((p) => p.length > 0);
    const allocated = ranks ? null : allocateRanks(counted.map((j) => goodDesc[j]), anyDefects ? counted.map((j) => present[j]) : null, targetFrr).ranks;
    const rankOf = (j: number): number => ranks?.[j] ?? allocated![counted.indexOf(follows[j] < 0 ? j : follows[j])];
    const out = this.specs.map((s, j) => {
      const good = goodDesc[j];
      const rank = rankOf(j);
      const threshold = good[rank - 1];
      const pos = present[j];
      const recall = pos.length ? pos.filter((x) => x > threshold).length / pos.length : null;
      // within what the file's five decimals keep apart from 0 and 1
      return { text: s.text, kind: s.kind, threshold: Math.min(0.99999, Math.max(threshold, 1e-4)), goodMax: good[0], rank, recall };
    });
    const pairs: Record<string, Array<[number, number]>> = {};
    for (const { j, d, scores } of this.pendingSizes) {
      const t = out[j].threshold;
      const cells = this.map.size * this.map.size;
      const norm = new Float32Array(cells);
      for (let k = 0; k < cells; k++) norm[k] = normalise(scores[j * cells + k], t);
      const near = defectRegions(norm, this.map).find((r) => Math.hypot(r.xMm - d.xMm, r.yMm - d.yMm) <= d.sizeMm / 2 + FOUND_WITHIN_MM);
      if (near) (pairs[d.class] ??= []).push([near.sizeMm, d.sizeMm]);
    }
    const sizeFits: Record<string, { slope: number; offset: number; spread: number; samples: number }> = {};
    for (const [cls, ps] of Object.entries(pairs)) {
      if (ps.length < 10) continue;
      const mx = ps.reduce((a, p) => a + p[0], 0) / ps.length;
      const my = ps.reduce((a, p) => a + p[1], 0) / ps.length;
      const sxx = ps.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
      const sxy = ps.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
      const slope = Math.round((sxx > 0 ? sxy / sxx : 1) * 1000) / 1000;
      const offset = Math.round((my - slope * mx) * 100) / 100;
      // how far true sizes fall from the fit: what the judge allows for before it calls a region within a limit
      const residuals = ps.reduce((a, p) => a + (p[1] - (slope * p[0] + offset)) ** 2, 0);
      const spread = Math.round(Math.sqrt(residuals / Math.max(1, ps.length - 2)) * 100) / 100;
      sizeFits[cls] = { slope, offset, spread, samples: ps.length };
    }
    const n = goodDesc[0].length;
    const used = counted.reduce((a, j) => a + rankOf(j), 0);
    return {
      specs: out,
      sizeFits,
      goodWafers: n,
      expectedFrr: used / (n + 1),
      meetsTarget: used <= rankBudget(targetFrr, n),
      goodWafersNeeded: goodWafersFor(counted.length, targetFrr),
    };
  }
}

import { MODALITIES, type Modality } from '../common/modality.js';
import type { ModalityStatus } from '../fusion/result.js';
import type { ReadSpec } from '../specs/read.js';
import type { SizeFit } from '../specs/thresholds.js';
import type { Check } from '../model/image.js';
import { defectRegions, type MapGeometry } from './regions.js';
import type { Finding, Verdict } from './result.js';

/** A spec ready to judge with: how it was read, and its score threshold from calibration. */
export interface JudgedSpec extends ReadSpec {
  /**
   * raw model score at which this spec's normalised score is 0.5; for a spec judged by the verifier
   * (`by: 'crops'`), the crops' confidence
   */
  threshold: number;
  /** 'crops': judged by the model's verifier on crops of the visible frame, not by the map */
  by?: 'crops';
  /** the same on a wafer missing one modality, where calibrated (thresholds.yaml `without`) */
  thresholdWithout?: Partial<Record<Modality, number>>;
  /** size correction for the class, measured extent -> true extent (identity when absent), and its spread */
  sizeFit?: SizeFit;
  /** the same for a finding sized by a rim run's arc or a die place's extent (`Check.sizedBy`), in place of `sizeFit` */
  placeSizeFits?: Partial<Record<'rim' | 'dies', SizeFit>>;
}

/**
 * How sure the judge must be that a region is within a size limit before it passes it: its size plus
 * this many of the size fit's spread must still be within the limit (one-sided 95% for a normal
 * spread). The score map's cells are 2.5 or 5 mm, so a defect one cell across may be 1 mm or 5; read as
 * exact, the fitted size passed most such detections under a limit of a few mm (README, "Sizes").
 */
export const SIZE_SURE = 1.645;

/** A region's size as reported (the fitted one) and the largest the measurement allows. */
export function sizeOf(measuredMm: number, fit: SizeFit | undefined): { sizeMm: number; sizeMaxMm: number } {
  const sizeMm = fit ? Math.max(0, fit.slope * measuredMm + fit.offset) : measuredMm;
  return { sizeMm, sizeMaxMm: sizeMm + SIZE_SURE * spreadAt(sizeMm, fit) };
}

/** How far true sizes spread around a fitted size (a fit's `spreadPerMm` more per mm of it). */
export function spreadAt(sizeMm: number, fit: SizeFit | undefined): number {
  return (fit?.spread ?? 0) + (fit?.spreadPerMm ?? 0) * sizeMm;
}

/**
 * Per spec, a size limit the station's size fit cannot tell from zero: the limit is within the fit's
 * margin (SIZE_SURE spreads), so every region found breaks it, however small it reads. A spec with a
 * rim size fit is judged by it for the defects on the rim (nearly all of its class's), so that one
 * counts.
 */
export function unresolvedSizeLimits(specs: JudgedSpec[]): Record<string, { limitMm: number; marginMm: number }> {
  const out: Record<string, { limitMm: number; marginMm: number }> = {};
  for (const s of specs) {
    const margin = SIZE_SURE * ((s.placeSizeFits?.rim ?? s.sizeFit)?.spread ?? 0);
    if (s.size && margin > 0 && s.size.mm - margin <= 0) out[s.id] = { limitMm: s.size.mm, marginMm: Math.round(margin * 10) / 10 };
  }
  return out;
}

/** Raw score -> normalised score with the threshold at 0.5 (as Anomalib reports them). */
export function normalise(raw: number, threshold: number): number {
  return raw <= threshold ? (0.5 * raw) / threshold : 0.5 + (0.5 * (raw - threshold)) / Math.max(1e-6, 1 - threshold);
}

export interface Judgement {
  verdict: Verdict;
  findings: Finding[];
  reason: string | null;
}

/**
 * The threshold a spec is judged with on a wafer: its own, or with a modality missing the one
 * calibrated without it; with several missing, the highest of theirs (the surest against false rejects).
 */
export function thresholdFor(spec: JudgedSpec, modalities: Record<Modality, ModalityStatus>): number {
  const without = MODALITIES.filter((m) => modalities[m] !== 'ok')
    .map((m) => spec.thresholdWithout?.[m])
    .filter((t): t is number => t !== undefined);
  return without.length ? Math.max(...without) : spec.threshold;
}

/**
 * Per spec, the modalities a wafer could miss and still be checked for it (those it does not need)
 * that have no threshold calibrated without them: such a wafer is judged with the complete-wafer
 * threshold, which a model reading fewer modalities can exceed on good wafers.
 */
export function uncalibratedWithout(specs: JudgedSpec[]): Record<string, Modality[]> {
  const out: Record<string, Modality[]> = {};
  for (const s of specs) {
    const lacking = MODALITIES.filter((m) => !s.modalities.includes(m) && s.thresholdWithout?.[m] === undefined);
    if (lacking.length) out[s.id] = lacking;
  }
  return out;
}

/**
 * Crops closer than this hold one defect (the verifier's places are a map's local maxima, 2.5 mm
 * apart at least): the one the verifier is surest of stands for them.
 */
export const SAME_DEFECT_MM = 5;

/** A place found above a spec's threshold, before its limits; sizedBy where its size is a rim run's arc or a die place's extent. */
type Region = { xMm: number; yMm: number; sizeMm: number; score: number; sizedBy?: 'rim' | 'dies' };

/** A verified spec's findings before its limits: the checks over its threshold, one per defect, sized by the verifier. */
function verifiedRegions(checks: Check[], threshold: number): Region[] {
  const over = checks.filter((c) => c.confidence > threshold).sort((a, b) => b.confidence - a.confidence);
  const kept: Check[] = [];
  for (const c of over) if (!kept.some((k) => Math.hypot(k.xMm - c.xMm, k.yMm - c.yMm) < SAME_DEFECT_MM)) kept.push(c);
  return kept.map((c) => ({ xMm: c.xMm, yMm: c.yMm, sizeMm: c.sizeMm, score: normalise(c.confidence, threshold), ...(c.sizedBy ? { sizedBy: c.sizedBy } : {}) }));
}

/**
 * The verdict of one wafer. A spec whose needed modality is missing or corrupt cannot be checked;
 * a wafer is `pass` only when every spec was checked and none is violated, `fail` when any spec is
 * violated (even if others could not be checked), `not-inspected` otherwise, with the reason.
 */
export function judge(
  specs: JudgedSpec[],
  scores: Float32Array | null,
  map: MapGeometry,
  modalities: Record<Modality, ModalityStatus>,
  problems: string[],
  /** per spec, the verifier's checks (specs judged `by: 'crops'` need them) */
  checks: ReadonlyArray<Check[] | null> = [],
): Judgement {
  const unchecked: string[] = [];
  const findings: Finding[] = [];
  const cells = map.size * map.size;
  // one normalised map for all specs in turn: regions are read off it before the next spec overwrites it
  const normalised = new Float32Array(cells);
  specs.forEach((spec, j) => {
    const lacking = spec.modalities.filter((m) => modalities[m] !== 'ok');
    if (!scores || lacking.length) {
      unchecked.push(`${spec.id} (${spec.kind}) needs ${lacking.length ? lacking.map((m) => `${m}, which is ${modalities[m]}`).join(' and ') : 'a fused wafer'}`);
      return;
    }
    const crops = checks[j];
    if (spec.by === 'crops' && !crops) {
      unchecked.push(`${spec.id} (${spec.kind}) needs the verifier's look at the visible frame, which this wafer came without`);
      return;
    }
    const threshold = thresholdFor(spec, modalities);
    let regions: Region[];
    if (spec.by === 'crops') regions = verifiedRegions(crops!, threshold);
    else {
      for (let k = 0; k < cells; k++) normalised[k] = normalise(scores[j * cells + k], threshold);
      regions = defectRegions(normalised, map);
    }
    const candidates = regions
      .map((r) => {
        const fit = r.sizedBy ? spec.placeSizeFits?.[r.sizedBy] : spec.sizeFit;
        return { ...r, fit, ...sizeOf(r.sizeMm, fit) };
      })
      .filter((r) => {
        if (spec.zone) {
          const rad = Math.hypot(r.xMm, r.yMm);
          if (rad < spec.zone.minRadiusMm || rad > spec.zone.maxRadiusMm) return false;
        }
        // within a size limit only when surely so: a region that may be larger than the limit breaks it
        if (spec.size) return spec.size.inclusive ? r.sizeMaxMm >= spec.size.mm : r.sizeMaxMm > spec.size.mm;
        return true;
      });
    const violated = spec.count ? (spec.count.inclusive ? candidates.length >= spec.count.count : candidates.length > spec.count.count) : candidates.length > 0;
    if (!violated) return;
    const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;
    for (const r of candidates) {
      findings.push({
        spec: spec.id,
        class: spec.kind,
        xMm: round(r.xMm, 1),
        yMm: round(r.yMm, 1),
        sizeMm: round(r.sizeMm, 1),
        ...(r.fit?.spread !== undefined ? { sizeMaxMm: round(r.sizeMaxMm, 1) } : {}),
        score: round(r.score, 3),
      });
    }
  });
  const why = [...problems, ...unchecked.map((u) => `cannot check spec ${u}`)];
  if (findings.length) return { verdict: 'fail', findings, reason: why.length ? why.join('; ') : null };
  if (unchecked.length) return { verdict: 'not-inspected', findings, reason: why.join('; ') };
  return { verdict: 'pass', findings, reason: null };
}

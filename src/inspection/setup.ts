import type { Affine } from '../common/affine.js';
import { pitchProblem } from '../model/crops.js';
import type { LoadedModel } from '../model/load.js';
import { verifiedClasses } from '../model/manifest.js';
import { defaultReadOptions, readRecipe, type ReadSpec, type SpecRejection } from '../specs/read.js';
import type { Recipe } from '../specs/recipe.js';
import { lookup, type ModelThresholds, type SizeFit } from '../specs/thresholds.js';
import { SIZE_SURE, uncalibratedWithout, type JudgedSpec } from './judge.js';

export interface PreparedSpecs {
  specs: JudgedSpec[];
  rejected: SpecRejection[];
  /** where each spec's threshold came from: its own calibration (a spec with a zone) or its class's */
  thresholdFrom: Record<string, 'spec' | 'class'>;
}

export interface PrepareOptions {
  /**
   * Where the wafers' visible frames come from: the camera's pxToMm, or null for a station without
   * one. Given, a spec the model's verifier judges on crops is rejected when the camera cannot show
   * the verifier what it reads (every wafer would be not-inspected for it); absent, that is found
   * per wafer.
   */
  visible?: Affine | null;
}

/** A recipe read by the model's text side and given its calibrated thresholds: what a run judges with. */
export async function prepareSpecs(recipe: Recipe, model: LoadedModel, thresholds: ModelThresholds, options: PrepareOptions = {}): Promise<PreparedSpecs> {
  const { specs, rejected } = await readRecipe(recipe, model.text, defaultReadOptions(model.manifest.canonical));
  const judged: JudgedSpec[] = [];
  const thresholdFrom: Record<string, 'spec' | 'class'> = {};
  for (const s of specs as ReadSpec[]) {
    const t = lookup(thresholds, s.text, s.kind);
    if (!t) {
      rejected.push({ id: s.id, text: s.text, reason: `no threshold calibrated for class ${s.kind}; run wafer-inspect calibrate thresholds` });
      continue;
    }
    // a verified class is judged by the verifier's probability and sized by the verifier's own fit
    const verified = verifiedClasses(model.manifest).includes(s.kind);
    const unseen = verified ? cameraProblem(model, options.visible) : null;
    if (unseen) {
      rejected.push({ id: s.id, text: s.text, reason: `${s.kind} is judged by ${model.manifest.id}'s verifier on crops of the visible frame, and ${unseen}; use a model without a verifier` });
      continue;
    }
    const sizeFit = verified ? model.manifest.verifier!.sizeFits[s.kind] : t.sizeFit;
    const v = model.manifest.verifier;
    const placeSizeFits = verified ? { ...(v!.rimSizeFits[s.kind] ? { rim: v!.rimSizeFits[s.kind] } : {}), ...(v!.dieSizeFits[s.kind] ? { dies: v!.dieSizeFits[s.kind] } : {}) } : {};
    judged.push({ ...s, threshold: t.threshold, thresholdWithout: t.without, ...(verified ? { by: 'crops' as const } : {}), ...(sizeFit ? { sizeFit } : {}), ...(Object.keys(placeSizeFits).length ? { placeSizeFits } : {}) });
    thresholdFrom[s.id] = t.from;
  }
  return { specs: judged, rejected, thresholdFrom };
}

function cameraProblem(model: LoadedModel, visible: Affine | null | undefined): string | null {
  if (visible === undefined) return null;
  if (visible === null) return 'the station has no visible camera';
  return pitchProblem(visible, model.manifest.verifier!.mmPerPx);
}

/** One spec as the user should see it before running. */
export function explain(s: JudgedSpec, from: 'spec' | 'class' | undefined): string {
  const parts = [
    `${s.id}: "${s.text}"`,
    `  kind       ${s.kind} (${(s.confidence * 100).toFixed(0)}%${s.nearest.length > 1 ? `; then ${s.nearest.slice(1).map((n) => `${n.kind} ${(n.probability * 100).toFixed(0)}%`).join(', ')}` : ''})`,
    `  limit      ${s.size ? `size ${s.size.inclusive ? '>=' : '>'} ${s.size.mm} mm (from "${s.size.words}")` : s.count ? `count ${s.count.inclusive ? '>=' : '>'} ${s.count.count} (from "${s.count.words}")` : 'any size'}`,
    `  zone       ${s.zone ? `radius ${s.zone.minRadiusMm}–${s.zone.maxRadiusMm} mm (from "${s.zone.words}")` : 'whole wafer'}`,
    `  threshold  ${s.threshold.toFixed(4)} ${s.by === 'crops' ? "verifier confidence, on crops of the visible frame where the map peaks" : 'raw score'} (${from === 'spec' ? "calibrated for this spec and its zone" : 'calibrated for its class'})`,
    `  needs      ${s.modalities.join(', ')}`,
  ];
  // a thresholds file from before they were calibrated has none: complete-wafer thresholds then judge
  // a wafer with a camera down, and fail good ones (README, "Calibration")
  const have = Object.entries(s.thresholdWithout ?? {}).map(([m, t]) => `${m} missing: ${t.toFixed(4)}`);
  const lacking = uncalibratedWithout([s])[s.id] ?? [];
  if (lacking.length) have.push(`none calibrated without ${lacking.join(', ')} (run calibrate thresholds again)`);
  parts.splice(5, 0, `  without    ${have.join('; ')}`);
  if (s.size) parts.splice(3, 0, `  sizes      ${sizing(s)}`);
  return parts.join('\n');
}

/** How a spec's size limit is judged: what a region's size is read from, and how sure it must be to pass. */
function sizing(s: JudgedSpec): string {
  const r = s.placeSizeFits?.rim;
  const d = s.placeSizeFits?.dies;
  const onRim = r ? `on the rim: ${fitText(r, 'the arc it stands off')}${margin(s, r)}; ` : '';
  const atDies = d ? `where it differs from its dies: ${fitText(d, 'the extent differing')}${margin(s, d)}; ` : '';
  return onRim + atDies + (r || d ? 'elsewhere: ' : '') + sizingBy(s);
}

function sizingBy(s: JudgedSpec): string {
  const f = s.sizeFit;
  const measured = s.by === 'crops' ? "the verifier's size" : "the region's extent";
  if (!f) return `${measured}${s.by === 'crops' ? '' : ' on the score map'}, as measured (no size fit calibrated)`;
  if (f.spread === undefined) return `${fitText(f, measured)}, taken as exact (no spread calibrated: run calibrate thresholds again)`;
  return fitText(f, measured) + margin(s, f, 'region');
}

function fitText(f: SizeFit, measured: string): string {
  return `${f.slope} x ${measured} ${f.offset < 0 ? '-' : '+'} ${Math.abs(f.offset)} mm`;
}

/** The spread a fit allows for, and below what fitted size a `what` (or one) passes the spec's limit (judge.ts, SIZE_SURE). */
function margin(s: JudgedSpec, f: SizeFit, what?: string): string {
  const spread = f.spread ?? 0;
  const perMm = f.spreadPerMm ?? 0;
  // the fitted size b whose b + SIZE_SURE x (spread + perMm x b) is the limit
  const below = (s.size!.mm - SIZE_SURE * spread) / (1 + SIZE_SURE * perMm);
  return `, give or take ${spread} mm${perMm ? ` and ${Math.round(perMm * 1000) / 10}% of its size` : ''}: ${below <= 0 ? `the limit is within that, so every ${what ?? 'one'} found breaks it` : `${what ? `a ${what} ` : ''}passes only below ${below.toFixed(1)} mm`}`;
}

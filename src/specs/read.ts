import type { Modality } from '../common/modality.js';
import type { TextEncoder } from '../model/text.js';
import { DEFAULT_ZONES, readCount, readSize, readZone, type CountLimit, type SizeLimit, type Zone, type ZoneDefaults } from './limits.js';
import type { Recipe, SpecInput } from './recipe.js';

/** How the appliance read one spec: shown to the user before running, and used for every wafer. */
export interface ReadSpec {
  id: string;
  text: string;
  kind: string;
  /** probability the text names this kind (1 when the recipe says the kind) */
  confidence: number;
  /** the kinds it could have meant, most likely first */
  nearest: Array<{ kind: string; probability: number }>;
  size?: SizeLimit;
  count?: CountLimit;
  zone?: Zone;
  /** modalities the kind shows in: a wafer missing one of them cannot be passed for this spec */
  modalities: Modality[];
  /** the query the image model is asked with */
  query: Float32Array;
}

export interface SpecRejection {
  id: string;
  text: string;
  reason: string;
}

export interface ReadOptions {
  /** below this the reading is too unsure to act on */
  minConfidence: number;
  zones: ZoneDefaults;
  /** per class, the modalities it shows in (from the model's manifest or contracts §3) */
  modalities: Record<string, Modality[]>;
  /** the canonical phrase of each class, used as the query when the recipe names the kind */
  canonical: Record<string, string>;
}

export const DEFAULT_MIN_CONFIDENCE = 0.6;

/**
 * Reads a recipe: each spec's kind from the text encoder (or the recipe's `kind`), its limit and zone
 * from the words (or the recipe's keys). Specs it cannot read, or reads too unsurely, are rejected
 * with the reason and the kinds it might have meant; the rest are returned ready to run.
 */
export async function readRecipe(recipe: Recipe, text: TextEncoder, o: ReadOptions): Promise<{ specs: ReadSpec[]; rejected: SpecRejection[] }> {
  const known = Object.keys(o.modalities);
  // A spec is queried with its kind's canonical phrase, however it was worded: the image side was
  // trained on one query per class and the class thresholds were calibrated with that query, so every
  // phrasing read as a kind judges wafers exactly as the canonical spec does.
  const kinds = Object.keys(o.canonical);
  const all = await text.read([...recipe.specs.map((s) => s.text), ...kinds.map((k) => o.canonical[k])]);
  const readings = all.slice(0, recipe.specs.length);
  const canonicalQuery = new Map(kinds.map((k, i) => [k, all[recipe.specs.length + i].embedding]));
  const specs: ReadSpec[] = [];
  const rejected: SpecRejection[] = [];
  recipe.specs.forEach((s: SpecInput, i) => {
    const r = readings[i];
    const nearest = Object.entries(r.kinds)
      .map(([kind, probability]) => ({ kind, probability }))
      .sort((a, b) => b.probability - a.probability);
    const options = nearest
      .filter((n) => n.kind !== 'none')
      .slice(0, 3)
      .map((n) => `${n.kind} ${n.probability.toFixed(2)}`)
      .join(', ');
    let kind = nearest[0].kind;
    let confidence = nearest[0].probability;
    if (s.kind) {
      if (!known.includes(s.kind)) {
        rejected.push({ id: s.id, text: s.text, reason: `kind "${s.kind}" is not one the model knows (${known.join(', ')})` });
        return;
      }
      kind = s.kind;
      confidence = 1;
    } else if (kind === 'none') {
      rejected.push({ id: s.id, text: s.text, reason: `the text names no defect kind the model knows (nearest: ${options}); reword it or set kind:` });
      return;
    } else if (confidence < o.minConfidence) {
      rejected.push({ id: s.id, text: s.text, reason: `too unsure what kind this is (nearest: ${options}; needs ${o.minConfidence}); reword it or set kind:` });
      return;
    }
    const size = s.sizeMm !== undefined ? { mm: s.sizeMm, inclusive: false, words: `sizeMm: ${s.sizeMm}` } : readSize(s.text);
    const count = s.count !== undefined ? { count: s.count, inclusive: false, words: `count: ${s.count}` } : readCount(s.text);
    const zone = s.zone ? { ...s.zone, words: `zone: ${s.zone.minRadiusMm}–${s.zone.maxRadiusMm} mm` } : readZone(s.text, o.zones);
    specs.push({
      id: s.id,
      text: s.text,
      kind,
      confidence,
      nearest: nearest.slice(0, 3),
      ...(size ? { size } : {}),
      ...(count ? { count } : {}),
      ...(zone ? { zone } : {}),
      modalities: o.modalities[kind],
      query: canonicalQuery.get(kind) as Float32Array,
    });
  });
  return { specs, rejected };
}

/**
 * Contracts §3: the modality each built-in class shows in strongly. A wafer without it cannot be
 * passed for a spec of that class; the other modalities only support it.
 */
export const NEEDED_MODALITIES: Record<string, Modality[]> = {
  'edge-burr': ['visible'],
  'edge-chip': ['visible'],
  scratch: ['visible'],
  particle: ['visible'],
  stain: ['visible'],
  crack: ['infrared'],
  void: ['xray'],
  hotspot: ['infrared'],
};

export function defaultReadOptions(canonical: Record<string, string>): ReadOptions {
  return { minConfidence: DEFAULT_MIN_CONFIDENCE, zones: DEFAULT_ZONES, modalities: NEEDED_MODALITIES, canonical };
}


import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../common/issues.js';
import { MODALITIES, type Modality } from '../common/modality.js';

/**
 * A station's score thresholds, per model (scores of different models are not comparable): for each
 * class (its canonical query, which every spec of the class is asked with), and for each spec with a
 * zone calibrated with a recipe (fewer cells, so a lower threshold keeps the same false rejects). A class entry may carry a size fit (measured extent -> true extent, and how far true sizes spread around it).
 * `without`: the same, calibrated on the same good wafers with one modality left out as a missing
 * frame is, for the classes that do not need it. A model reads a wafer without a modality differently
 * (its gate weighs the others), so a threshold set on complete wafers would fail good ones.
 * `producedBy`: per model, the command that calibrated it (models in one file come from different lots).
 */
const entry = z.object({
  threshold: z.number().min(0).max(1),
  sizeFit: z.object({ slope: z.number(), offset: z.number(), spread: z.number().min(0).optional(), spreadPerMm: z.number().min(0).optional() }).optional(),
});

export const thresholdsSchema = z.object({
  producedBy: z.string().optional(),
  models: z.record(
    z.string(),
    z.object({
      producedBy: z.string().optional(),
      targetFalseRejectRate: z.number(),
      /** sum of the specs' ranks among the good wafers' scores / (good wafers + 1): the expected rate on new good wafers is at most this */
      expectedFalseRejectRate: z.number().optional(),
      goodWafers: z.number().int(),
      kinds: z.record(z.string(), entry),
      specs: z.array(entry.extend({ text: z.string() })).default([]),
      without: z
        .partialRecord(
          z.enum(MODALITIES),
          z.object({ kinds: z.record(z.string(), z.object({ threshold: entry.shape.threshold })), specs: z.array(z.object({ text: z.string(), threshold: entry.shape.threshold })).default([]) }),
        )
        .default({}),
    }),
  ),
});
export type Thresholds = z.infer<typeof thresholdsSchema>;
/**
 * measured extent -> true extent (true = slope · measured + offset), and the calibration defects' spread
 * around it, mm: `spread`, and `spreadPerMm` more per mm of the fitted size where a measure's error grows with it
 */
export type SizeFit = z.infer<typeof entry>['sizeFit'] & {};
export type ModelThresholds = Thresholds['models'][string];

/** A threshold as the file keeps it: 5 decimals, far finer than scores move between good wafers. */
export const roundThreshold = (v: number): number => Math.round(v * 1e5) / 1e5;

export class ThresholdsError extends Error {
  override name = 'ThresholdsError';
}

export async function readThresholds(path: string): Promise<Thresholds> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { models: {} };
    throw new ThresholdsError(`${path}: ${(e as Error).message}`);
  }
  const r = thresholdsSchema.safeParse(parse(text) ?? {}, { reportInput: true });
  if (!r.success) throw new ThresholdsError(`${path}: ${formatIssues(r.error.issues).join('; ')}`);
  return r.data;
}

export async function writeThresholds(path: string, t: Thresholds): Promise<void> {
  const header = t.producedBy ? `# Score thresholds per model, written by: ${t.producedBy}\n` : '';
  await writeFile(path, header + stringify(t, { lineWidth: 0 }));
}

/** The thresholds for a model, or an error that says how to make them. */
export function forModel(t: Thresholds, model: string, path: string): ModelThresholds {
  const m = t.models[model];
  if (!m) {
    const have = Object.keys(t.models);
    throw new ThresholdsError(
      `${path} has no thresholds for model ${model}${have.length ? ` (it has ${have.join(', ')})` : ''}; run wafer-inspect calibrate thresholds for this model`,
    );
  }
  return m;
}

export interface SpecThreshold {
  threshold: number;
  sizeFit?: SizeFit;
  from: 'spec' | 'class';
  /** the threshold when one modality is missing, where calibrated */
  without: Partial<Record<Modality, number>>;
}

/** A spec's threshold: its own text's when calibrated, else its class's; likewise with a modality missing. */
export function lookup(m: ModelThresholds, text: string, kind: string): SpecThreshold | undefined {
  const pick = (kinds: Record<string, { threshold: number }>, specs: Array<{ text: string; threshold: number }>) =>
    specs.find((x) => x.text === text)?.threshold ?? kinds[kind]?.threshold;
  const without: Partial<Record<Modality, number>> = {};
  for (const mod of MODALITIES) {
    const w = m.without[mod];
    const t = w && pick(w.kinds, w.specs);
    if (t !== undefined) without[mod] = t;
  }
  const k = m.kinds[kind];
  const s = m.specs.find((x) => x.text === text);
  if (s) return { threshold: s.threshold, sizeFit: k?.sizeFit, from: 'spec', without };
  if (k) return { threshold: k.threshold, sizeFit: k.sizeFit, from: 'class', without };
  return undefined;
}

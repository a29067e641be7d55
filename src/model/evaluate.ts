import type { Modality } from '../common/modality.js';
import { canonicalQueries, type LoadedModel } from './load.js';
import { scoreDataset } from './dataset-reader.js';

/** Area under the ROC curve by the rank-sum formula, ties sharing ranks. */
export function auroc(scores: number[], labels: boolean[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    for (let k = i; k <= j; k++) ranks[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const pos = labels.filter(Boolean).length;
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  const sum = ranks.reduce((s, r, i) => s + (labels[i] ? r : 0), 0);
  return (sum - (pos * (pos + 1)) / 2) / (pos * neg);
}

export interface WaferScores {
  wafer: string;
  present: Set<string>;
  /** highest cell score per class for the class's canonical query */
  max: number[];
}

/**
 * Every wafer of the dataset chunks scored with each class's canonical query; the highest cell per
 * class. The modalities in `hide` are left out as a missing frame is.
 */
export async function scoreClasses(
  model: LoadedModel,
  pattern: string,
  onProgress?: (n: number) => void,
  hide: readonly Modality[] = [],
): Promise<WaferScores[]> {
  const classes = model.manifest.classes;
  const queries = await canonicalQueries(model);
  const cells = model.image.cells;
  const out: WaferScores[] = [];
  await scoreDataset(model, queries, pattern, (w) => {
    const max = classes.map((_, j) => {
      let m = 0;
      for (let k = j * cells; k < (j + 1) * cells; k++) if (w.scores[k] > m) m = w.scores[k];
      return m;
    });
    out.push({ wafer: w.wafer, present: new Set(w.truth.map((d) => d.class)), max });
    onProgress?.(out.length);
  }, [hide]);
  return out;
}

export interface ClassReport {
  auroc: number;
  positives: number;
  negatives: number;
  /** score threshold for the target false-reject rate, from the validation set when given */
  threshold: number;
  recall: number;
  falseReject: number;
}

/** Per class: AUROC, and recall / false-reject at the threshold that rejects `frr` of negatives in `tune`. */
export function report(classes: string[], test: WaferScores[], tune: WaferScores[], frr: number): Record<string, ClassReport> {
  const out: Record<string, ClassReport> = {};
  classes.forEach((c, j) => {
    const neg = tune.filter((w) => !w.present.has(c)).map((w) => w.max[j]).sort((a, b) => a - b);
    const threshold = neg.length ? neg[Math.min(neg.length - 1, Math.floor(neg.length * (1 - frr)))] : 0.5;
    const scores = test.map((w) => w.max[j]);
    const labels = test.map((w) => w.present.has(c));
    const pos = labels.filter(Boolean).length;
    const caught = test.filter((w, i) => labels[i] && w.max[j] > threshold).length;
    const wrong = test.filter((w, i) => !labels[i] && w.max[j] > threshold).length;
    out[c] = {
      auroc: auroc(scores, labels),
      positives: pos,
      negatives: test.length - pos,
      threshold,
      recall: pos ? caught / pos : NaN,
      falseReject: test.length - pos ? wrong / (test.length - pos) : NaN,
    };
  });
  return out;
}

import type { SpecRejection } from '../specs/read.js';
import type { ReplayScore } from './score.js';

/** One model's run over a lot, as `model compare` reports it. */
export interface CompareSide {
  dir: string;
  variant: string;
  /** model id and image file hash, as in result records */
  id: string;
  /** sha256 of the folder's model.json */
  manifestSha256: string;
  classes: string[];
  /** why the model has no verdict figures: it has no calibrated thresholds for this station */
  noThresholds: string | null;
  /** recipe specs this model could not read; their classes are not scored for it */
  rejected: SpecRejection[];
  /** spec kinds it judged with */
  kinds: string[];
  score: ReplayScore | null;
  wafers: number;
  seconds: number;
  /** median of each wafer's share of its batch's model run */
  modelMsPerWafer: number | null;
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '—');

/** A class's recall for one model: "—" when the model does not know the class, else why there is no figure. */
export function recallCell(s: CompareSide, cls: string): string {
  if (!s.classes.includes(cls)) return '—';
  if (!s.score) return 'n/a';
  const c = s.score.perClass[cls];
  if (c) return `${pct(c.recall)} (${c.found}/${c.positives})`;
  return s.kinds.includes(cls) ? 'no positives' : 'no spec';
}

/** The side-by-side table, one row per figure; the lines end before the JSON summary. */
export function compareTable(a: CompareSide, b: CompareSide): string[] {
  const classes = [...a.classes, ...b.classes.filter((c) => !a.classes.includes(c))];
  const rows: Array<[string, string, string]> = [
    ['model', a.id, b.id],
    ['variant', a.variant, b.variant],
    ['manifest sha256', a.manifestSha256.slice(0, 16), b.manifestSha256.slice(0, 16)],
    ['thresholds', a.noThresholds ? 'none calibrated' : 'calibrated', b.noThresholds ? 'none calibrated' : 'calibrated'],
  ];
  for (const c of classes) rows.push([`recall ${c}`, recallCell(a, c), recallCell(b, c)]);
  const fig = (s: CompareSide, f: (x: ReplayScore) => string): string => (s.score ? f(s.score) : 'n/a');
  rows.push(
    ['wafer recall', fig(a, (x) => `${pct(x.waferRecall)} (${x.failed}/${x.shouldFail})`), fig(b, (x) => `${pct(x.waferRecall)} (${x.failed}/${x.shouldFail})`)],
    ['false rejects (good)', fig(a, (x) => `${pct(x.falseRejectRate)} (${x.falseRejects}/${x.goodJudged})`), fig(b, (x) => `${pct(x.falseRejectRate)} (${x.falseRejects}/${x.goodJudged})`)],
    ['localisation, median', fig(a, (x) => mm(x.localisationMedianMm)), fig(b, (x) => mm(x.localisationMedianMm))],
    ['not inspected', fig(a, (x) => String(x.notInspected)), fig(b, (x) => String(x.notInspected))],
    ['model ms/wafer', ms(a), ms(b)],
    ['wafers/s, end to end', rate(a), rate(b)],
  );
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(1, ...rows.map((r) => r[1].length));
  return [`${''.padEnd(w0)}  ${'A'.padEnd(w1)}  B`, ...rows.map(([k, x, y]) => `${k.padEnd(w0)}  ${x.padEnd(w1)}  ${y}`)];
}

/** The figures as one JSON object (the command's last line). */
export function compareJson(lot: string, recipe: string, a: CompareSide, b: CompareSide): Record<string, unknown> {
  const side = (s: CompareSide) => ({
    dir: s.dir,
    id: s.id,
    variant: s.variant,
    manifestSha256: s.manifestSha256,
    thresholds: s.noThresholds ? null : 'calibrated',
    ...(s.noThresholds ? { noThresholds: s.noThresholds } : {}),
    rejectedSpecs: s.rejected.map((r) => r.id),
    wafers: s.wafers,
    modelMsPerWafer: s.modelMsPerWafer,
    wafersPerS: s.seconds > 0 ? s.wafers / s.seconds : null,
    recall: Object.fromEntries([...new Set([...a.classes, ...b.classes])].map((c) => [c, s.classes.includes(c) && s.score?.perClass[c] ? s.score.perClass[c].recall : null])),
    score: s.score,
  });
  return { bench: 'model-compare', lot, recipe, A: side(a), B: side(b) };
}

function mm(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)} mm` : '—';
}

function ms(s: CompareSide): string {
  return s.modelMsPerWafer === null ? 'n/a' : `${s.modelMsPerWafer.toFixed(1)} ms`;
}

function rate(s: CompareSide): string {
  return s.wafers > 0 && s.seconds > 0 ? `${(s.wafers / s.seconds).toFixed(1)}` : 'n/a';
}

import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ReplayCapture } from '../capture/replay.js';
import type { Modality } from '../common/modality.js';
import type { GridSpec } from '../fusion/grid.js';
import { FusionStage } from '../fusion/stage.js';
import { datasetPrefixes, namePattern, scoreDataset, viewsOf } from '../model/dataset-reader.js';
import type { Queries } from '../model/image.js';
import type { LoadedModel } from '../model/load.js';
import { checksDies } from '../model/manifest.js';
import { runLine } from '../service/line.js';
import type { ScoredWafer } from './calibrate.js';

/**
 * Raw model scores for every wafer of a labelled source: a recorded lot (a folder with
 * manifest.jsonl, fused here), several (a pattern with * in its last part, e.g. data/lot-*: every
 * folder it matches that holds a lot, in name order), or dataset chunks (`wafer-inspect dataset`
 * output, already fused).
 * Wafers that cannot be fused or scored are counted, not scored. Each wafer is scored once per view,
 * a view being the modalities left out as a missing frame is (`[]`: as captured), and fused or read
 * once for all of them.
 */
export async function forEachScored(
  source: string,
  model: LoadedModel,
  queries: Queries,
  fusion: { stationDir: string; grid: GridSpec },
  each: (w: ScoredWafer, view: number) => void,
  views: ReadonlyArray<readonly Modality[]> = [[]],
): Promise<ScoredCount> {
  const lots = recordedLots(source);
  if (lots.length) {
    const total: ScoredCount = { scored: 0, unusable: 0 };
    for (const lot of lots) {
      const n = await scoreLot(lot, model, queries, fusion, each, views);
      total.scored += n.scored;
      total.unusable += n.unusable;
      total.firstProblem ??= n.firstProblem;
    }
    return total;
  }
  const chunks = await datasetPrefixes(source).catch(() => []);
  if (chunks.length === 0) throw new Error(`${source}: no recorded lot (a folder holding manifest.jsonl, or a pattern such as data/lot-* matching such folders) and no dataset chunks (a pattern such as data/good-* matching .json files)`);
  // fused chunks keep no visible frame: a verified spec has nothing to be scored on there
  if (model.image.needsVisible(queries)) throw new Error(`${source}: dataset chunks hold no visible frames, which ${model.manifest.id}'s verifier crops; use a recorded lot`);
  return { scored: await scoreDataset(model, queries, source, each, views), unusable: 0 };
}

/** How many wafers were scored and how many could not be, with one of those and why. */
export interface ScoredCount {
  scored: number;
  unusable: number;
  /** "wafer: reason" */
  firstProblem?: string;
}

/** What a count's unusable wafers were, for a message: "" when none. */
export function unusableNote(n: ScoredCount): string {
  return n.unusable ? `${n.unusable} unusable, e.g. ${n.firstProblem}` : '';
}

/** The recorded lots a source names: itself, or the folders holding a lot that its last part matches. */
export function recordedLots(source: string): string[] {
  const isLot = (dir: string): boolean => existsSync(join(dir, 'manifest.jsonl'));
  if (isLot(source)) return [source];
  const name = basename(source);
  if (!name.includes('*') || !existsSync(dirname(source))) return [];
  const re = namePattern(name);
  return readdirSync(dirname(source))
    .filter((n) => re.test(n))
    .sort()
    .map((n) => join(dirname(source), n))
    .filter(isLot);
}

async function scoreLot(
  source: string,
  model: LoadedModel,
  queries: Queries,
  fusion: { stationDir: string; grid: GridSpec },
  each: (w: ScoredWafer, view: number) => void,
  views: ReadonlyArray<readonly Modality[]>,
): Promise<ScoredCount> {
  let scored = 0;
  let unusable = 0;
  let firstProblem: string | undefined;
  const needsVisible = model.image.needsVisible(queries);
  const stage = new FusionStage({ stationDir: fusion.stationDir, grid: fusion.grid, keepVisible: needsVisible, comparesDies: needsVisible && checksDies(model.manifest) });
  await stage.ready();
  try {
    await runLine({
      capture: new ReplayCapture({ lot: source, pace: 'max' }),
      fusion: stage,
      maxInFlight: stage.workers * 2,
      next: async (w) => {
        if (!w.tensor || w.problems.length) {
          firstProblem ??= `${w.wafer}: ${w.problems.join('; ') || 'not fused'}`;
          return null;
        }
        try {
          // each view moves its own copy of the visible frame to the model (copied before the first
          // moves it); a view without visible has none
          let first = true;
          const seen = views.map((hide) => {
            if (!w.visible || hide.includes('visible')) return undefined;
            const own = first ? w.visible : { ...w.visible, data: w.visible.data.slice() };
            first = false;
            return own;
          });
          const tensors = viewsOf(w.tensor, views, fusion.grid.size * fusion.grid.size);
          const rs = await Promise.all(tensors.map((t, v) => model.image.score(t, queries, seen[v])));
          stage.recycle(rs[rs.length - 1].tensor);
          // a view without the visible frame has nothing to verify: its verified specs saw nothing (the
          // thresholds of that view are kept only for specs that do not need visible)
          return rs.map((r, v) => ({ wafer: w.wafer, truth: w.truth, scores: r.scores, checks: !views[v].includes('visible') ? r.checks : r.checks.map((c, j) => (queries.verify[j] >= 0 ? [] : c)) }));
        } catch (e) {
          firstProblem ??= `${w.wafer}: ${(e as Error).message}`;
          return null;
        }
      },
      onWafer: (ws) => {
        if (ws) {
          scored++;
          ws.forEach((w, v) => each(w, v));
        } else unusable++;
      },
    });
  } finally {
    await stage.close();
  }
  return { scored, unusable, ...(firstProblem ? { firstProblem } : {}) };
}

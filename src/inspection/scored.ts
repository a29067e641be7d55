import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ReplayCapture } from '../capture/replay.js';
import type { Modality } from '../common/modality.js';
import type { GridSpec } from '../fusion/grid.js';
import { FusionStage } from '../fusion/stage.js';
import { scoreDataset, viewsOf } from '../model/dataset-reader.js';
import type { Queries } from '../model/image.js';
import type { LoadedModel } from '../model/load.js';
import { runLine } from '../service/line.js';
import type { ScoredWafer } from './calibrate.js';

/**
 * Raw model scores for every wafer of a labelled source: a recorded lot (a folder with
 * manifest.jsonl, fused here) or dataset chunks (`wafer-inspect dataset` output, already fused).
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
): Promise<{ scored: number; unusable: number }> {
  let scored = 0;
  let unusable = 0;
  if (existsSync(join(source, 'manifest.jsonl'))) {
    const stage = new FusionStage({ stationDir: fusion.stationDir, grid: fusion.grid });
    await stage.ready();
    try {
      await runLine({
        capture: new ReplayCapture({ lot: source, pace: 'max' }),
        fusion: stage,
        maxInFlight: stage.workers * 2,
        next: async (w) => {
          if (!w.tensor || w.problems.length) return null;
          try {
            const rs = await Promise.all(viewsOf(w.tensor, views, fusion.grid.size * fusion.grid.size).map((t) => model.image.score(t, queries)));
            stage.recycle(rs[rs.length - 1].tensor);
            return rs.map((r) => ({ wafer: w.wafer, truth: w.truth, scores: r.scores }));
          } catch {
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
    return { scored, unusable };
  }
  scored = await scoreDataset(model, queries, source, each, views);
  return { scored, unusable };
}

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ReplayCapture } from '../capture/replay.js';
import type { Modality } from '../common/modality.js';
import { blankModality, type GridSpec } from '../fusion/grid.js';
import { FusionStage } from '../fusion/stage.js';
import { scoreDataset } from '../model/dataset-reader.js';
import type { Queries } from '../model/image.js';
import type { LoadedModel } from '../model/load.js';
import { runLine } from '../service/line.js';
import type { ScoredWafer } from './calibrate.js';

/**
 * Raw model scores for every wafer of a labelled source: a recorded lot (a folder with
 * manifest.jsonl, fused here) or dataset chunks (`wafer-inspect dataset` output, already fused).
 * Wafers that cannot be fused or scored are counted, not scored. The modalities in `hide` are left
 * out as a missing frame is (values and mask zero).
 */
export async function forEachScored(
  source: string,
  model: LoadedModel,
  queries: Queries,
  fusion: { stationDir: string; grid: GridSpec },
  each: (w: ScoredWafer) => void,
  hide: readonly Modality[] = [],
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
          const cells = fusion.grid.size * fusion.grid.size;
          for (const m of hide) blankModality(w.tensor, cells, m);
          try {
            const r = await model.image.score(w.tensor, queries);
            stage.recycle(r.tensor);
            return { wafer: w.wafer, truth: w.truth, scores: r.scores };
          } catch {
            return null;
          }
        },
        onWafer: (w) => {
          if (w) {
            scored++;
            each(w);
          } else unusable++;
        },
      });
    } finally {
      await stage.close();
    }
    return { scored, unusable };
  }
  scored = await scoreDataset(model, queries, source, each, hide);
  return { scored, unusable };
}

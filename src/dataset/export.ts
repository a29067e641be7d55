import { open, writeFile } from 'node:fs/promises';
import { ReplayCapture } from '../capture/replay.js';
import { DEFECT_CLASSES, isDefectClass, type TruthDefect } from '../common/defects.js';
import { MODALITIES } from '../common/modality.js';
import { makeGrid, TENSOR_CHANNELS, type GridSpec } from '../fusion/grid.js';
import { FusionStage } from '../fusion/stage.js';
import { readLotMeta, readManifest } from '../lot/read.js';
import { fusedOnly, newStats, runLine } from '../service/line.js';
import { SyntheticLine } from '../sim/line.js';
import type { SimStationSpec } from '../sim/station.js';
import type { Shape } from '../sim/shapes.js';
import { rasterise } from './masks.js';

/**
 * Turns a recorded lot into training data for the model tools under models/:
 *   <out>.inputs.u16  N x C x G x G fused tensors, uint16 little-endian, value = round(clamp(v, 0, 1) · 65535)
 *   <out>.masks.u8    N x G x G class masks, bit k = DEFECT_CLASSES[k] present in the cell
 *   <out>.json        grid, channels, classes, and per wafer: id, truth, modality status
 * Wafers that could not be fused are listed with their problems and left out of the arrays.
 */
export interface DatasetOptions {
  lot: string;
  out: string;
  stationDir: string;
  grid: GridSpec;
  workers?: number;
  onProgress?: (done: number) => void;
}

export interface DatasetIndex {
  format: 'wafer-inspect-dataset/1';
  lot: string | undefined;
  grid: GridSpec;
  channels: readonly string[];
  classes: readonly string[];
  masks: 'exact' | 'truth-discs';
  wafers: Array<{ wafer: string; truth: TruthDefect[]; modalities: Record<string, string> }>;
  skipped: Array<{ wafer: string; problems: string[] }>;
}

export async function exportDataset(o: DatasetOptions): Promise<DatasetIndex> {
  const meta = await readLotMeta(o.lot);
  const grid = makeGrid(o.grid);
  const G2 = grid.size * grid.size;
  const line = meta.synthetic
    ? new SyntheticLine({ seed: meta.synthetic.seed, defectRate: meta.synthetic.defectRate, maxDefects: meta.synthetic.maxDefects, classWeights: meta.synthetic.classWeights, station: meta.synthetic.station as SimStationSpec, look: meta.synthetic.look })
    : null;
  const fusion = new FusionStage({ stationDir: o.stationDir, grid: o.grid, workers: o.workers });
  await fusion.ready();
  // replay numbers wafers by manifest line, broken lines included: the same order as readManifest's items
  const simIndex: Array<number | undefined> = [];
  for await (const item of readManifest(o.lot)) simIndex.push('entry' in item ? item.entry.sim?.index : undefined);
  const capture = new ReplayCapture({ lot: o.lot, pace: 'max' });
  const inputs = await open(`${o.out}.inputs.u16`, 'w');
  const masks = await open(`${o.out}.masks.u8`, 'w');
  const index: DatasetIndex = {
    format: 'wafer-inspect-dataset/1',
    lot: meta.lot,
    grid: o.grid,
    channels: TENSOR_CHANNELS,
    classes: DEFECT_CLASSES,
    masks: line ? 'exact' : 'truth-discs',
    wafers: [],
    skipped: [],
  };
  let writes = Promise.resolve();
  const u16 = new Uint16Array(TENSOR_CHANNELS.length * G2);
  const bits = new Uint8Array(G2);
  try {
    await runLine({
      capture,
      fusion,
      maxInFlight: fusion.workers * 2,
      stats: newStats(),
      next: fusedOnly,
      onWafer: (w) => {
        if (!w.tensor) {
          index.skipped.push({ wafer: w.wafer, problems: w.problems });
          return;
        }
        const t = w.tensor;
        for (let i = 0; i < t.length; i++) u16[i] = Math.round((t[i] <= 0 ? 0 : t[i] >= 1 ? 1 : t[i]) * 65535);
        fusion.recycle(t);
        let defects: Array<{ class: string; shape?: Shape; truth: TruthDefect }> = (w.truth ?? []).map((truth) => ({ class: truth.class, truth }));
        const sim = simIndex[w.seq];
        if (line && sim !== undefined) defects = line.defects(line.plan(sim)).map((d) => ({ class: d.class, shape: d.shape, truth: d.truth }));
        rasterise(grid, defects.filter((d) => isDefectClass(d.class)), bits);
        const a = Buffer.from(u16.buffer.slice(0));
        const b = Buffer.from(bits.buffer.slice(0));
        writes = writes.then(async () => {
          await inputs.write(a);
          await masks.write(b);
        });
        index.wafers.push({ wafer: w.wafer, truth: w.truth ?? [], modalities: Object.fromEntries(MODALITIES.map((m) => [m, w.modalities[m]])) });
        o.onProgress?.(index.wafers.length);
      },
    });
    await writes;
  } finally {
    await inputs.close();
    await masks.close();
    await fusion.close();
  }
  await writeFile(`${o.out}.json`, JSON.stringify(index) + '\n');
  return index;
}

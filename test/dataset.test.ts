import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DEFECT_CLASSES } from '../src/common/defects.js';
import { exportDataset } from '../src/dataset/export.js';
import { CHANNEL, cellOf, makeGrid } from '../src/fusion/grid.js';
import { datasetPrefixes, readDataset } from '../src/model/dataset-reader.js';
import { LotWriter } from '../src/lot/write.js';
import { recordSynthetic } from '../src/sim/record.js';
import { SyntheticLine } from '../src/sim/line.js';
import { REPO_ROOT, SMALL_STATION, tempDir } from './helpers.js';

const grid = { size: 96, fieldMm: 320, roiRadiusMm: 158 };

t.test('a synthetic lot becomes fused arrays with exact class masks at the truth', async (t) => {
  const root = tempDir(t);
  await recordSynthetic({ count: 8, out: join(root, 'lot'), format: 'tiff', rateHz: 15, workers: 2, line: { seed: 21, defectRate: 1, station: SMALL_STATION } });
  const index = await exportDataset({ lot: join(root, 'lot'), out: join(root, 'ds'), stationDir: `${REPO_ROOT}calibration/reference`, grid, workers: 2 });
  t.equal(index.masks, 'exact');
  t.equal(index.wafers.length, 8);
  const G2 = 96 * 96;
  const inputs = new Uint16Array(readFileSync(join(root, 'ds.inputs.u16')).buffer.slice(0));
  const masks = readFileSync(join(root, 'ds.masks.u8'));
  t.equal(inputs.length, 8 * 8 * G2);
  t.equal(masks.length, 8 * G2);
  const g = makeGrid(grid);
  for (const [i, w] of index.wafers.entries()) {
    t.ok(w.truth.length > 0);
    for (const d of w.truth) {
      const k = DEFECT_CLASSES.indexOf(d.class as never);
      const [row, col] = cellOf(g, d.xMm, d.yMm)!;
      let near = false;
      for (let dr = -2; dr <= 2; dr++) for (let dc = -2; dc <= 2; dc++) if ((masks[i * G2 + (row + dr) * 96 + col + dc] >> k) & 1) near = true;
      t.ok(near, `${w.wafer}: ${d.class} marked around its truth`);
    }
    const present = new Set(w.truth.map((d) => d.class));
    for (const [k, cls] of DEFECT_CLASSES.entries()) {
      let any = false;
      for (let c = 0; c < G2; c++) if ((masks[i * G2 + c] >> k) & 1) any = true;
      t.equal(any, present.has(cls), `${w.wafer}: ${cls} ${present.has(cls) ? 'marked' : 'absent'}`);
    }
    const centre = i * 8 * G2 + 48 * 96 + 48;
    t.ok(inputs[centre] > 0 && inputs[centre] < 65535, 'visible R at the centre is scaled into uint16');
  }
  // read back with a modality hidden, as `model eval --hide` scores it: that modality's values and
  // mask are zero, as fusion leaves a missing frame, and the rest is as captured
  const prefixes = await datasetPrefixes(join(root, 'd*'));
  const full = [];
  for await (const w of readDataset(prefixes)) full.push(w.tensor);
  let i = 0;
  for await (const w of readDataset(prefixes, ['infrared'])) {
    const channel = (x: Float32Array, c: number) => x.subarray(c * G2, (c + 1) * G2);
    t.ok(channel(full[i], CHANNEL.infrared).some((v) => v > 0) && channel(full[i], CHANNEL.mask.infrared).some((v) => v > 0), 'infrared as captured');
    t.ok(channel(w.tensor, CHANNEL.infrared).every((v) => v === 0) && channel(w.tensor, CHANNEL.mask.infrared).every((v) => v === 0), 'infrared hidden');
    for (const c of [CHANNEL.visible, CHANNEL.mask.visible, CHANNEL.xray, CHANNEL.mask.xray]) t.same(channel(w.tensor, c), channel(full[i], c));
    i++;
  }
  t.equal(i, 8);
});

t.test('a lot from elsewhere gets discs from its truth; unusable wafers are listed, not written', async (t) => {
  const root = tempDir(t);
  const line = new SyntheticLine({ seed: 2, station: SMALL_STATION, defectRate: 0 });
  const w = line.renderIndex(0);
  const writer = await LotWriter.create(join(root, 'lot'), {}, 'tiff');
  await writer.write({ wafer: 'P1', atMs: 0, frames: w.frames, truth: [{ class: 'void', xMm: 20, yMm: -30, sizeMm: 10 }] });
  await writer.write({ wafer: 'P2', atMs: 60, frames: {}, truth: [] });
  await writer.close();
  const index = await exportDataset({ lot: join(root, 'lot'), out: join(root, 'ds'), stationDir: `${REPO_ROOT}calibration/reference`, grid, workers: 1 });
  t.equal(index.masks, 'truth-discs');
  t.same(index.wafers.map((x) => x.wafer), ['P1']);
  t.same(index.skipped.map((x) => x.wafer), ['P2']);
  const masks = readFileSync(join(root, 'ds.masks.u8'));
  const marked = [...masks].filter((b) => b & (1 << DEFECT_CLASSES.indexOf('void'))).length;
  const cell = 320 / 96;
  t.ok(Math.abs(marked - (Math.PI * 25) / (cell * cell)) < 4, `a 10 mm disc covers about ${((Math.PI * 25) / (cell * cell)).toFixed(1)} cells (${marked})`);
});

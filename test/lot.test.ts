import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { ReplayCapture } from '../src/capture/replay.js';
import { MODALITIES } from '../src/common/modality.js';
import type { FrameSet } from '../src/frames/frame.js';
import { FusionStage } from '../src/fusion/stage.js';
import { readLotMeta, readManifest } from '../src/lot/read.js';
import { LotWriter } from '../src/lot/write.js';
import { recordSynthetic } from '../src/sim/record.js';
import { SyntheticLine } from '../src/sim/line.js';
import { REPO_ROOT, SMALL_STATION, tempDir } from './helpers.js';

async function collect(it: AsyncIterable<FrameSet>): Promise<FrameSet[]> {
  const out: FrameSet[] = [];
  for await (const s of it) out.push(s);
  return out;
}

t.test('record writes a lot in the contract format, with geometry and truth', async (t) => {
  const dir = join(tempDir(t), 'lot');
  const r = await recordSynthetic({ count: 6, out: dir, format: 'tiff', rateHz: 15, workers: 2, line: { seed: 3, defectRate: 0.5, station: SMALL_STATION } });
  t.equal(r.wafers, 6);
  const meta = await readLotMeta(dir);
  t.equal(meta.lot, 'SIM-3');
  t.equal(meta.rateHz, 15);
  t.ok(meta.geometry?.visible?.pxToMm && meta.geometry.infrared?.pxToMm && meta.geometry.xray?.pxToMm);
  const items = await collect(readManifest(dir) as AsyncIterable<never>);
  t.equal(items.length, 6);
  const line = new SyntheticLine({ seed: 3, defectRate: 0.5, station: SMALL_STATION });
  for (const [i, item] of items.entries()) {
    const e = (item as unknown as { entry: { wafer: string; atMs: number; truth: unknown[]; frames: Record<string, string> } }).entry;
    t.equal(e.wafer, line.waferId(i), 'lines keep the line order');
    t.ok(Math.abs(e.atMs - (i * 1000) / 15) <= 0.1 * (1000 / 15) + 0.1, 'arrival times follow the rate');
    t.same(e.truth, line.renderIndex(i).truth, 'truth is the rendered defects');
    const ir = await sharp(join(dir, e.frames.infrared)).metadata();
    t.equal(ir.depth, 'ushort', 'infrared is stored as 16-bit');
  }
});

t.test('replay: a broken entry costs that wafer alone, with a reason, and the lot goes on', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'lot');
  const line = new SyntheticLine({ seed: 4, station: SMALL_STATION, defectRate: 0 });
  const writer = await LotWriter.create(dir, { lot: 'L1', rateHz: 100 }, 'tiff');
  for (let i = 0; i < 6; i++) {
    const w = line.renderIndex(i);
    await writer.write({ wafer: `W${i}`, atMs: i * 10, frames: { ...w.frames, ...(i === 1 ? { xray: null } : {}) }, truth: [] });
  }
  await writer.close();
  // W2: infrared replaced by an 8-bit image; W3: visible truncated; W4: its X-ray file deleted
  writeFileSync(join(dir, 'W2/infrared.tiff'), await sharp(Buffer.alloc(64 * 64, 99), { raw: { width: 64, height: 64, channels: 1 } }).tiff().toBuffer());
  const vis = readFileSync(join(dir, 'W3/visible.tiff'));
  writeFileSync(join(dir, 'W3/visible.tiff'), vis.subarray(0, vis.length / 3));
  writeFileSync(join(dir, 'W4/xray.tiff'), '');
  const manifest = readFileSync(join(dir, 'manifest.jsonl'), 'utf8').split('\n');
  manifest.splice(5, 0, '{"wafer": "W-broken", "frames": ');
  manifest.splice(6, 0, '{"wafer": "W-nofr"}');
  writeFileSync(join(dir, 'manifest.jsonl'), manifest.join('\n'));
  appendFileSync(join(dir, 'manifest.jsonl'), JSON.stringify({ wafer: 'W-gone', atMs: 70, frames: { visible: 'nowhere/visible.png', infrared: null } }) + '\n');

  const sets = await collect(new ReplayCapture({ lot: dir, pace: 'max' }).frames());
  t.equal(sets.length, 9, 'one frame set per manifest line, broken ones included');
  t.same(sets.map((s) => s.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const fusion = new FusionStage({ stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 64, fieldMm: 320 }, workers: 2 });
  t.teardown(() => fusion.close());
  const fused = await Promise.all(sets.map((s) => fusion.fuse(s)));
  const by = Object.fromEntries(fused.map((f) => [f.wafer, f]));
  t.same(by.W0.modalities, { visible: 'ok', infrared: 'ok', xray: 'ok' });
  t.same(by.W0.problems, []);
  t.ok(by.W0.tensor);
  t.same(by.W1.modalities, { visible: 'ok', infrared: 'ok', xray: 'missing' }, 'an absent frame is reported missing, not invented');
  t.equal(by.W2.modalities.infrared, 'corrupt');
  t.match(by.W2.problems.join('\n'), /infrared: .*W2\/infrared\.tiff: wrong bit depth/);
  t.equal(by.W3.modalities.visible, 'corrupt');
  t.match(by.W3.problems.join('\n'), /visible: .*truncated/);
  t.equal(by.W4.modalities.xray, 'corrupt');
  t.match(by.W4.problems.join('\n'), /xray: .*empty/);
  const broken = fused.find((f) => f.problems.some((p) => /line 6: not JSON/.test(p)));
  t.ok(broken, 'a line that is not JSON becomes a wafer with the reason');
  t.equal(broken!.tensor, null);
  t.match(by['W-nofr'].problems.join('\n'), /line 7: frames: missing, expected object/);
  t.same(by['W-gone'].modalities, { visible: 'corrupt', infrared: 'missing', xray: 'missing' });
  t.match(by['W-gone'].problems.join('\n'), /no such file/);
  t.same(by.W5.modalities, { visible: 'ok', infrared: 'ok', xray: 'ok' }, 'wafers after the broken ones are fine');
  for (const f of fused) for (const m of MODALITIES) t.ok(['ok', 'missing', 'corrupt'].includes(f.modalities[m]));
});

t.test('replay paces at the recorded arrival times, or as fast as taken', async (t) => {
  const dir = join(tempDir(t), 'lot');
  const writer = await LotWriter.create(dir, {}, 'tiff');
  const line = new SyntheticLine({ seed: 4, station: SMALL_STATION, defectRate: 0 });
  const w = line.renderIndex(0);
  for (let i = 0; i < 5; i++) await writer.write({ wafer: `P${i}`, atMs: i * 60, frames: w.frames });
  await writer.close();
  let t0 = performance.now();
  await collect(new ReplayCapture({ lot: dir, pace: 'recorded' }).frames());
  const recorded = performance.now() - t0;
  t0 = performance.now();
  const sets = await collect(new ReplayCapture({ lot: dir, pace: 'max', loops: 3 }).frames());
  const max = performance.now() - t0;
  t.ok(recorded >= 230, `recorded pace keeps the 4 gaps of 60 ms (${recorded.toFixed(0)} ms)`);
  t.ok(max < recorded, 'max pace does not wait');
  t.equal(sets.length, 15, 'loops replay the lot again');
  t.ok(sets[5].atMs > sets[4].atMs, 'arrival times keep increasing across loops');
});

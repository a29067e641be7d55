import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { SyntheticCapture } from '../src/capture/synthetic.js';
import { WatchFolderCapture } from '../src/capture/watch-folder.js';
import { encodeFrame } from '../src/frames/encode.js';
import type { FrameSet } from '../src/frames/frame.js';
import { FusionStage } from '../src/fusion/stage.js';
import { SyntheticLine } from '../src/sim/line.js';
import { REPO_ROOT, SMALL_STATION, tempDir } from './helpers.js';

t.test('synthetic capture: raw frames in shared memory, truth attached, paced at the line rate', async (t) => {
  const cap = new SyntheticCapture({ line: { seed: 2, station: SMALL_STATION, defectRate: 1 }, rateHz: 40, count: 6 });
  const t0 = performance.now();
  const sets: FrameSet[] = [];
  for await (const s of cap.frames()) sets.push(s);
  const took = performance.now() - t0;
  t.equal(sets.length, 6);
  t.ok(took > 100, `6 wafers at 40/s span about 125 ms (${took.toFixed(0)})`);
  const f = sets[0].frames.visible;
  t.equal(f.kind, 'raw');
  if (f.kind === 'raw') t.ok(f.frame.data.buffer instanceof SharedArrayBuffer, 'workers can read the frames without a copy');
  t.ok(sets.every((s) => s.truth && s.truth.length > 0));
  t.same(sets.map((s) => s.seq), [0, 1, 2, 3, 4, 5]);
});

t.test('synthetic capture: a cycle of pre-rendered wafers under new ids, and stop() ends the stream', async (t) => {
  const cap = new SyntheticCapture({ line: { seed: 2, station: SMALL_STATION }, rateHz: 0, cycle: 3 });
  const ids: string[] = [];
  for await (const s of cap.frames()) {
    ids.push(s.wafer);
    if (ids.length === 7) cap.stop();
  }
  t.equal(ids.length, 7);
  t.equal(new Set(ids).size, 7, 'every delivered wafer has its own id');
});

/** Writes a file in two pieces with a pause between, as vendor software streaming a frame would. */
async function dropSlowly(path: string, bytes: Buffer, pauseMs: number): Promise<void> {
  const fh = await open(path, 'w');
  await fh.write(bytes.subarray(0, bytes.length >> 1));
  await new Promise((r) => setTimeout(r, pauseMs));
  await fh.write(bytes.subarray(bytes.length >> 1));
  await fh.close();
}

t.test('watch folder: frames grouped by wafer, half-written files waited for, a late modality reported missing', async (t) => {
  const dir = join(tempDir(t), 'drop');
  mkdirSync(dir);
  const line = new SyntheticLine({ seed: 5, station: SMALL_STATION, defectRate: 0 });
  const w = line.renderIndex(0);
  const png = { visible: await encodeFrame(w.frames.visible, 'png'), infrared: await encodeFrame(w.frames.infrared, 'png'), xray: await encodeFrame(w.frames.xray, 'tiff') };
  // present before the driver starts: still pending, so it is taken
  writeFileSync(join(dir, 'A1_visible.png'), png.visible);
  writeFileSync(join(dir, 'notes.txt'), 'operator notes');
  const cap = new WatchFolderCapture({ dir, timeoutMs: 700, settleMs: 80, pollMs: 50, after: 'move', lot: 'LW' });
  const ignored: string[] = [];
  cap.onIgnored = (name) => ignored.push(name);
  const got: FrameSet[] = [];
  const run = (async () => {
    for await (const s of cap.frames()) got.push(s);
  })();
  await new Promise((r) => setTimeout(r, 150));
  await dropSlowly(join(dir, 'A1_ir.png'), png.infrared, 150);
  writeFileSync(join(dir, 'A1-xray.tiff'), png.xray);
  writeFileSync(join(dir, 'B7_visible.png'), png.visible);
  writeFileSync(join(dir, 'B7_xray.tiff'), png.xray);
  await new Promise((r) => setTimeout(r, 1300));
  cap.stop();
  await run;
  t.same(got.map((s) => s.wafer), ['A1', 'B7']);
  const [a, b] = got;
  t.same(Object.values(a.frames).map((f) => f.kind), ['bytes', 'bytes', 'bytes']);
  t.equal(b.frames.infrared.kind, 'missing', 'a modality that never came is missing');
  t.equal(cap.stats.incompleteWafers, 1);
  t.same(ignored, ['notes.txt']);
  t.same(readdirSync(join(dir, 'done')).sort(), ['A1-xray.tiff', 'A1_ir.png', 'A1_visible.png', 'B7_visible.png', 'B7_xray.tiff']);
  const fusion = new FusionStage({ stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 64, fieldMm: 320 }, workers: 1 });
  t.teardown(() => fusion.close());
  const fa = await fusion.fuse(a);
  t.same(fa.modalities, { visible: 'ok', infrared: 'ok', xray: 'ok' }, 'the half-written frame was read whole');
  const fb = await fusion.fuse(b);
  t.equal(fb.modalities.infrared, 'missing');
  t.match(fb.problems.join('\n'), /infrared: frame missing \(not received within 700 ms\)/);
});

t.test('watch folder: a frame arriving after its wafer was passed on is counted, not made into a new wafer', async (t) => {
  const dir = join(tempDir(t), 'drop');
  mkdirSync(dir);
  const bytes = Buffer.from('x'.repeat(100));
  const cap = new WatchFolderCapture({ dir, timeoutMs: 200, settleMs: 30, pollMs: 30, after: 'delete', expect: ['visible'] });
  const got: FrameSet[] = [];
  const run = (async () => {
    for await (const s of cap.frames()) got.push(s);
  })();
  writeFileSync(join(dir, 'C3_visible.png'), bytes);
  await new Promise((r) => setTimeout(r, 300));
  writeFileSync(join(dir, 'C3_xray.png'), bytes);
  await new Promise((r) => setTimeout(r, 300));
  cap.stop();
  await run;
  t.equal(got.length, 1);
  t.equal(cap.stats.filesLate, 1);
  t.same(readdirSync(dir), [], 'delete leaves the folder empty');
});

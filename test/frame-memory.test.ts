import { createHash } from 'node:crypto';
import t from 'tap';
import type { CaptureDriver } from '../src/capture/driver.js';
import { SyntheticCapture } from '../src/capture/synthetic.js';
import { MODALITIES } from '../src/common/modality.js';
import type { FrameSet } from '../src/frames/frame.js';
import { SharedPixelPool } from '../src/frames/pixel-pool.js';
import { BufferPool } from '../src/common/buffer-pool.js';
import { FusionStage } from '../src/fusion/stage.js';
import { runLine } from '../src/service/line.js';
import { REPO_ROOT, SMALL_STATION } from './helpers.js';

function digest(set: FrameSet): string {
  const h = createHash('sha256');
  for (const m of MODALITIES) {
    const f = set.frames[m];
    if (f.kind === 'raw') h.update(new Uint8Array(f.frame.data.buffer, f.frame.data.byteOffset, f.frame.data.byteLength));
  }
  return h.digest('hex');
}

t.test('pool: buffers taken between open and close come back on release; others stay the caller’s', async (t) => {
  const pool = new SharedPixelPool(2);
  const outside = pool.alloc(64);
  pool.open();
  const a = pool.alloc(64);
  const b = pool.alloc(128);
  t.same(pool.close(), [a, b]);
  pool.release([a, b]);
  pool.open();
  t.equal(pool.alloc(64), a, 'a released buffer of the size asked for is reused');
  t.not(pool.alloc(64), outside, 'a buffer taken outside a wafer is never handed out again');
  pool.close();
  t.equal(pool.created, 4);
});

t.test('file buffers: frames of a new size every wafer (PNG, JPEG) reuse what fits and hold no more than the pool keeps', async (t) => {
  const pool = new BufferPool(12);
  let created = 0;
  let largest = 0;
  let wrong = 0;
  const seen = new WeakSet<ArrayBufferLike>();
  for (let w = 0; w < 2000; w++) {
    // three compressed frames a wafer, each a few kB off the last wafer's
    const sizes = [7_700_000, 2_100_000, 3_300_000].map((s) => s + ((w * 7919) % 20_000) - 10_000);
    const got = sizes.map((s) => {
      const b = pool.bytes(s);
      if (b.length !== s) wrong++;
      if (!seen.has(b.buffer)) {
        seen.add(b.buffer);
        created++;
      }
      return b;
    });
    const tensor = pool.take(2_097_152);
    if (tensor.byteLength !== 2_097_152) wrong++;
    for (const b of got) pool.release(b.buffer as ArrayBuffer);
    pool.release(tensor);
    largest = Math.max(largest, pool.retainedBytes);
  }
  t.equal(wrong, 0, 'every buffer of the size asked for');
  t.ok(largest <= 12 * 7_710_000, `at most 12 buffers held (${(largest / 1e6).toFixed(1)} MB at most)`);
  t.ok(created < 100, `buffers reused across wafers: ${created} created for 6000 frames`);
});

t.test('recycled frame memory renders the same wafers as fresh memory', async (t) => {
  const line = { seed: 9, station: SMALL_STATION, defectRate: 0.7, poolSize: 0 };
  const fresh: string[] = [];
  for await (const s of new SyntheticCapture({ line, rateHz: 0, count: 8 }).frames()) fresh.push(digest(s));
  const cap = new SyntheticCapture({ line, rateHz: 0, count: 8 });
  const recycled: string[] = [];
  for await (const s of cap.frames()) {
    recycled.push(digest(s));
    // dirty the memory before it goes back: a renderer that relied on zeroed buffers would show it
    for (const m of MODALITIES) {
      const f = s.frames[m];
      if (f.kind === 'raw') f.frame.data.fill(0xab);
    }
    cap.release(s);
  }
  t.same(recycled, fresh);
  t.ok(cap.memory.created <= 4, `one wafer's worth of buffers serves all eight (${cap.memory.created} created)`);
});

t.test('the line hands frames back only after fusion has read them', async (t) => {
  const stage = new FusionStage({ stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 64, fieldMm: 320, roiRadiusMm: 158 }, workers: 2 });
  t.teardown(() => stage.close());
  await stage.ready();
  const line = { seed: 12, station: SMALL_STATION, defectRate: 0.6, poolSize: 0 };
  const fuseAll = async (capture: CaptureDriver): Promise<number[]> => {
    const sums: number[] = [];
    await runLine({
      capture,
      fusion: stage,
      maxInFlight: 4,
      next: async (w) => w,
      onWafer: (w) => {
        sums.push(w.tensor!.reduce((s, v) => s + v, 0));
        stage.recycle(w.tensor);
      },
    });
    return sums;
  };
  const recycling = new SyntheticCapture({ line, rateHz: 0, count: 12 });
  const withReuse = await fuseAll(recycling);
  // the same line with release() withheld: every wafer in memory of its own
  const plain = new SyntheticCapture({ line, rateHz: 0, count: 12 });
  const withoutReuse = await fuseAll({ name: 'plain', frames: () => plain.frames(), stop: () => plain.stop() });
  t.same(withReuse, withoutReuse, 'every wafer fused from its own pixels, none from a later wafer’s');
  t.ok(recycling.memory.created < plain.memory.created, `memory reused: ${recycling.memory.created} buffers for 12 wafers against ${plain.memory.created}`);
});

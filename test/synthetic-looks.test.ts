import { createHash } from 'node:crypto';
import t from 'tap';
import { MODALITIES } from '../src/common/modality.js';
import type { RawFrame } from '../src/frames/frame.js';
import { SyntheticLine } from '../src/sim/line.js';
import { SMALL_STATION } from './helpers.js';

function digest(frames: Record<string, RawFrame>): string {
  const h = createHash('sha256');
  for (const m of MODALITIES) h.update(new Uint8Array(frames[m].data.buffer, frames[m].data.byteOffset, frames[m].data.byteLength));
  return h.digest('hex');
}

t.test('looks rendered on a worker thread are the pixels rendered here, in shared memory, and wafers drawn on them match', async (t) => {
  const options = { seed: 7, poolSize: 3, defectRate: 1, station: SMALL_STATION, look: 'plant' as const };
  const here = new SyntheticLine(options);
  here.warmPool();
  const there = new SyntheticLine({ ...options, shared: true });
  await there.warmPoolOffThread();
  for (let k = 0; k < 3; k++) {
    const bg = there.background(k);
    t.equal(digest(bg), digest(here.background(k)), `look ${k}`);
    t.ok(bg.visible.data.buffer instanceof SharedArrayBuffer, `look ${k} is in shared memory for the fusion workers`);
  }
  for (let i = 0; i < 4; i++) t.equal(digest(there.renderIndex(i).frames), digest(here.renderIndex(i).frames), `wafer ${i}`);
  await there.warmPoolOffThread();
  t.equal(digest(there.background(0)), digest(here.background(0)), 'a second warm-up keeps the looks it has');
});

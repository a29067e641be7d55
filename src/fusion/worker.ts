import { workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { BufferPool } from '../common/buffer-pool.js';
import { MODALITIES, type Modality } from '../common/modality.js';
import { serveTasks } from '../common/worker-pool.js';
import { decodeFrame, FrameError } from '../frames/decode.js';
import type { RawFrame } from '../frames/frame.js';
import { loadStation } from '../station/load.js';
import { DieCompare, DIE_PLACES } from './die-places.js';
import { Fuser } from './fuse.js';
import type { GridSpec } from './grid.js';
import { traceRim } from './rim.js';
import { fusedWafer, type FusedWafer, type ModalityStatus, type VisibleFrame } from './result.js';
import type { FusionTask } from './stage.js';

const { stationDir, grid, keepVisible } = workerData as { stationDir: string; grid: GridSpec; keepVisible: boolean };
// each worker is one lane of work: libvips threads on top would only fight over the same cores
sharp.concurrency(1);
let f: Fuser;
/** per frame size and geometry: its grid tables are built once */
const compares = new Map<string, DieCompare>();
const buffers = new BufferPool(12);

/** Loads the station and builds its cameras' grid tables before the first wafer arrives. */
async function init(): Promise<void> {
  const station = await loadStation(stationDir);
  f = new Fuser(station, grid);
  f.warm();
  const cam = station.cameras.visible;
  if (keepVisible && cam) compareFor(cam);
}

function compareFor(pixels: Pick<VisibleFrame, 'width' | 'height' | 'pxToMm'>): DieCompare {
  const key = `${pixels.width}x${pixels.height}:${pixels.pxToMm.flat().join(',')}`;
  let c = compares.get(key);
  if (!c) {
    if (compares.size > 8) compares.clear();
    c = new DieCompare(pixels.pxToMm, pixels.width, pixels.height, f.station.waferDiameterMm / 2);
    compares.set(key, c);
  }
  return c;
}

/**
 * The visible frame as the next stages may keep it, its rim traced and compared with its dies: a buffer this wafer decoded into
 * leaves the pool and moves with the result; pixels it does not own (capture's shared memory, reused
 * once fusion has read it) are copied.
 */
function handOn(frame: RawFrame, pxToMm: VisibleFrame['pxToMm'], borrowed: ArrayBuffer[], comparesDies: boolean): VisibleFrame {
  const d = frame.data as Uint8Array;
  const own = borrowed.indexOf(d.buffer as ArrayBuffer);
  let data: Uint8Array;
  if (own >= 0 && d.byteOffset === 0 && d.byteLength === d.buffer.byteLength) {
    borrowed.splice(own, 1);
    data = d;
  } else data = new Uint8Array(d);
  const pixels = { width: frame.width, height: frame.height, data, pxToMm };
  return { ...pixels, rim: traceRim(pixels, f.station.waferDiameterMm / 2), dies: comparesDies ? compareFor(pixels).places(pixels, DIE_PLACES).places : null };
}

serveTasks<FusionTask, FusedWafer>(async (set) => {
  const borrowed: ArrayBuffer[] = [];
  const alloc = (size: number): Buffer => {
    const b = buffers.bytes(size);
    borrowed.push(b.buffer as ArrayBuffer);
    return b;
  };
  const t0 = performance.now();
  const modalities = {} as Record<Modality, ModalityStatus>;
  const problems: string[] = [];
  if (set.error) problems.push(set.error);
  const frames: Partial<Record<Modality, RawFrame>> = {};
  await Promise.all(
    MODALITIES.map(async (m) => {
      const input = set.frames[m];
      if (input.kind === 'missing') {
        modalities[m] = 'missing';
        problems.push(`${m}: frame missing${input.reason ? ` (${input.reason})` : ''}`);
        return;
      }
      try {
        frames[m] = await decodeFrame(m, input, alloc);
        modalities[m] = 'ok';
      } catch (e) {
        if (!(e instanceof FrameError)) throw e;
        modalities[m] = 'corrupt';
        problems.push(e.message);
      }
    }),
  );
  const t1 = performance.now();
  const any = MODALITIES.some((m) => modalities[m] === 'ok');
  const tensor = any ? f.fuse(frames, set.geometry, new Float32Array(buffers.take(f.tensorLength * 4))) : null;
  const t2 = performance.now();
  const visible = keepVisible && frames.visible ? handOn(frames.visible, f.geometryFor('visible', frames.visible, set.geometry?.visible), borrowed, set.comparesDies) : undefined;
  const t3 = performance.now();
  for (const b of borrowed) buffers.release(b);
  const ordered = Object.fromEntries(MODALITIES.map((m) => [m, modalities[m]])) as Record<Modality, ModalityStatus>;
  const result = fusedWafer(set, { modalities: ordered, problems: problems.sort(), tensor, ...(visible ? { visible } : {}), timings: { decodeMs: t1 - t0, fuseMs: t2 - t1, placesMs: t3 - t2 } });
  const transfer = [tensor, visible?.data].filter((a) => a !== undefined && a !== null).map((a) => a.buffer as ArrayBuffer);
  return { result, transfer };
}, {
  init,
  onControl: (message) => {
    // tensors handed back by whoever consumed them
    const m = message as { recycle?: ArrayBuffer };
    if (m?.recycle) buffers.release(m.recycle);
  },
});

import type { Affine } from '../common/affine.js';
import type { FrameSet } from '../frames/frame.js';
import { visibleGeometry } from '../station/load.js';

/**
 * A source of wafers. frames() yields one FrameSet per wafer in arrival order and ends when the
 * source is exhausted or stop() was called. A modality that did not arrive or could not be read is
 * present in the set as `missing` or `error`, never left out or made up.
 */
export interface CaptureDriver {
  readonly name: string;
  frames(): AsyncIterable<FrameSet>;
  stop(): void;
  /** Work a source does once before its first wafer (the synthetic line renders its looks); frames() does it if not done. */
  prepare?(): Promise<void>;
  /** Told when fusion is done with a set's frames, so a source that recycles frame memory may reuse it. */
  release?(set: FrameSet): void;
  /**
   * The visible camera's geometry where the source knows it before its first wafer (a recorded lot
   * carries its own); undefined: the station's. What the verifier's pitch is checked against at start.
   */
  visibleGeometry?(): Promise<Affine | undefined>;
}

/** The visible camera's geometry a source's frames are cropped with: its own where it knows it (a recorded lot's), else the station's. */
export async function sourceVisibleGeometry(capture: CaptureDriver, stationDir: string): Promise<Affine | null> {
  return (await capture.visibleGeometry?.()) ?? (await visibleGeometry(stationDir));
}

/** Resolves after ms, or at once when the signal aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Paces a stream to arrival times (ms from its start): waits until each is due, never bunches up after a stall. */
export class Pacer {
  private start = -1;

  constructor(private readonly signal: AbortSignal) {}

  async until(atMs: number): Promise<void> {
    const now = performance.now();
    if (this.start < 0) this.start = now - atMs;
    const due = this.start + atMs;
    if (due > now) await pause(due - now, this.signal);
    // a consumer that fell behind resets the clock rather than getting a burst to catch up
    else if (now - due > 1000) this.start = now - atMs;
  }
}

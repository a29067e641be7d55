import type { CaptureDriver } from '../capture/index.js';
import type { FrameSet } from '../frames/frame.js';

/**
 * A capture driver that an operator can pause: while paused no further frame set is taken from the
 * driver, so the vendor folder or the synthetic line simply waits; wafers already taken finish.
 * stop() also ends a pause, so a paused service still shuts down at once.
 */
export class CaptureGate implements CaptureDriver {
  readonly name: string;
  private paused = false;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly inner: CaptureDriver,
    /** told about every frame set handed on: a wafer has entered the line */
    private readonly onTaken: () => void = () => {},
  ) {
    this.name = inner.name;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.inner.stop();
    this.wake?.();
  }

  release(set: FrameSet): void {
    this.inner.release?.(set);
  }

  async *frames(): AsyncGenerator<FrameSet> {
    if (this.stopped) return;
    const it = this.inner.frames()[Symbol.asyncIterator]();
    try {
      for (;;) {
        while (this.paused && !this.stopped) await new Promise<void>((r) => (this.wake = r));
        if (this.stopped) return;
        const n = await it.next();
        if (n.done) return;
        this.onTaken();
        yield n.value;
      }
    } finally {
      await it.return?.();
    }
  }
}

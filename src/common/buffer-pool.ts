/**
 * Recycled byte buffers for per-wafer work (frame files, tensors). Fresh buffers of megabytes cost
 * the kernel a mapping, zeroed pages and an unmapping each time; reusing them keeps that off the hot
 * path. Buffers come back through release(); at most `keep` wait in all, the oldest dropped first, so
 * buffers of sizes that never come again (compressed frame files differ in size from wafer to wafer)
 * cannot pile up.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  constructor(private readonly keep = 8) {}

  /**
   * A buffer of exactly `size` bytes: a recycled one of that size, else a view of the smallest
   * recycled one up to a quarter larger, else a new one.
   */
  bytes(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const n = this.free[i].byteLength;
      if (n >= size && n <= size * 1.25 && (best < 0 || n < this.free[best].byteLength)) best = i;
    }
    const ab = best >= 0 ? this.free.splice(best, 1)[0] : new ArrayBuffer(size);
    return Buffer.from(ab, 0, size);
  }

  /** A buffer whose whole length is `size` bytes (typed arrays over all of it). */
  take(size: number): ArrayBuffer {
    const i = this.free.findIndex((ab) => ab.byteLength === size);
    return i >= 0 ? this.free.splice(i, 1)[0] : new ArrayBuffer(size);
  }

  release(ab: ArrayBufferLike | undefined): void {
    if (!(ab instanceof ArrayBuffer) || ab.byteLength === 0 || this.free.includes(ab)) return;
    this.free.push(ab);
    if (this.free.length > this.keep) this.free.shift();
  }

  /** Bytes held for reuse. */
  get retainedBytes(): number {
    return this.free.reduce((s, ab) => s + ab.byteLength, 0);
  }
}

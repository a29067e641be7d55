/**
 * Recycled byte buffers for per-wafer work of fixed shape (frame files, tensors). Fresh buffers of
 * megabytes cost the kernel a mapping, zeroed pages and an unmapping each time; reusing them keeps
 * that off the hot path. Buffers come back through release(); at most `keep` wait per size.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();

  constructor(private readonly keep = 8) {}

  /** A buffer of exactly `size` bytes (a view when a recycled one is larger). */
  bytes(size: number): Buffer {
    const ab = this.take(size);
    return Buffer.from(ab, 0, size);
  }

  take(size: number): ArrayBuffer {
    const list = this.free.get(size);
    return list?.pop() ?? new ArrayBuffer(size);
  }

  release(ab: ArrayBufferLike | undefined): void {
    if (!(ab instanceof ArrayBuffer) || ab.byteLength === 0) return;
    let list = this.free.get(ab.byteLength);
    if (!list) this.free.set(ab.byteLength, (list = []));
    if (list.length < this.keep) list.push(ab);
  }
}

/** Where a renderer takes the memory of a new frame from. */
export type PixelAllocator = (bytes: number) => SharedArrayBuffer;

/**
 * Shared frame memory that a capture source hands out again once fusion is done with it.
 * Shared buffers given to worker threads are freed only after a garbage collection in every thread
 * that saw them, and the threads allocate too little for one to come soon: without reuse, a line
 * that renders each wafer afresh grows by gigabytes before memory is given back.
 *
 * Buffers taken between open() and close() belong to that wafer and come back together with
 * release(); buffers taken outside (cached backgrounds, a pre-rendered cycle) are the caller's own.
 */
export class SharedPixelPool {
  private readonly free = new Map<number, SharedArrayBuffer[]>();
  private taking: SharedArrayBuffer[] | null = null;
  /** buffers created rather than reused, for tests and for a figure of what the pool holds */
  created = 0;

  /** @param keep how many free buffers of one size are kept for reuse */
  constructor(private readonly keep = 16) {}

  readonly alloc: PixelAllocator = (bytes) => {
    const buf = this.free.get(bytes)?.pop() ?? (this.created++, new SharedArrayBuffer(bytes));
    this.taking?.push(buf);
    return buf;
  };

  open(): void {
    this.taking = [];
  }

  /** The buffers taken since open(): the wafer's frames and any intermediate ones. */
  close(): SharedArrayBuffer[] {
    const taken = this.taking ?? [];
    this.taking = null;
    return taken;
  }

  /** Hands buffers back; their contents may be overwritten from now on. */
  release(buffers: SharedArrayBuffer[]): void {
    for (const b of buffers) {
      let list = this.free.get(b.byteLength);
      if (!list) this.free.set(b.byteLength, (list = []));
      if (list.length < this.keep) list.push(b);
    }
  }
}

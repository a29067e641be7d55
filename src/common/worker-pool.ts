import { parentPort, Worker, type Transferable } from 'node:worker_threads';

/**
 * A fixed set of worker threads running one module, so CPU-heavy stages (rendering, decoding,
 * fusion) stay off the event loop. Tasks go to the least-loaded worker; a worker that dies fails
 * only its own tasks (with the reason) and is replaced.
 */

interface Pending<TOut> {
  resolve: (v: TOut) => void;
  reject: (e: Error) => void;
}

interface Slot<TOut> {
  worker: Worker;
  pending: Map<number, Pending<TOut>>;
}

type Reply<TOut> = { id: number; ok: true; result: TOut } | { id: number; ok: false; error: string };

/** URL of a sibling worker module, .ts when running from source (tests), .js when built. */
export function siblingModule(importMetaUrl: string, name: string): URL {
  const ext = importMetaUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, importMetaUrl);
}

export class WorkerPool<TIn, TOut> {
  private readonly slots: Slot<TOut>[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly url: URL,
    readonly size: number,
    private readonly workerData?: unknown,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot<TOut> {
    const worker = new Worker(this.url, { workerData: this.workerData });
    const slot: Slot<TOut> = { worker, pending: new Map() };
    worker.on('message', (msg: Reply<TOut>) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    });
    const fail = (why: string): void => {
      for (const p of slot.pending.values()) p.reject(new Error(why));
      slot.pending.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0 && !this.closed) this.slots[i] = this.spawn();
    };
    worker.on('error', (e) => fail(`worker failed: ${e.message}`));
    worker.on('exit', (code) => {
      if (!this.closed) fail(`worker exited with code ${code}`);
    });
    return slot;
  }

  /** tasks queued or running */
  get inFlight(): number {
    return this.slots.reduce((s, x) => s + x.pending.size, 0);
  }

  run(task: TIn, transfer: Transferable[] = []): Promise<TOut> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    let slot = this.slots[0];
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.nextId++;
    return new Promise<TOut>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, task }, transfer);
    });
  }

  /** A message outside the task protocol (e.g. a buffer handed back for reuse), to the least-loaded worker. */
  post(message: object, transfer: Transferable[] = []): void {
    if (this.closed) return;
    let slot = this.slots[0];
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    slot.worker.postMessage({ control: message }, transfer);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** Worker side: answer each task with handler's result, or with its error's message; pass other messages to onControl. */
export function serveTasks<TIn, TOut>(
  handler: (task: TIn) => Promise<{ result: TOut; transfer?: Transferable[] }>,
  onControl?: (message: unknown) => void,
): void {
  const port = parentPort;
  if (!port) throw new Error('serveTasks must run in a worker thread');
  port.on('message', async ({ id, task, control }: { id?: number; task: TIn; control?: unknown }) => {
    if (id === undefined) {
      onControl?.(control);
      return;
    }
    try {
      const { result, transfer } = await handler(task);
      port.postMessage({ id, ok: true, result }, transfer ?? []);
    } catch (e) {
      port.postMessage({ id, ok: false, error: (e as Error).message ?? String(e) });
    }
  });
}

import { parentPort, Worker, type Transferable } from 'node:worker_threads';

/**
 * A fixed set of worker threads running one module, so CPU-heavy stages (rendering, decoding,
 * fusion) stay off the event loop. Tasks go to the least-loaded worker. A worker that dies fails
 * only its own tasks (with the reason) and is replaced; one that fails while starting is not
 * replaced, and ready() reports why, so a bad setup is an error at start and not on every wafer.
 */

interface Pending<TOut> {
  resolve: (v: TOut) => void;
  reject: (e: Error) => void;
}

interface Slot<TOut> {
  worker: Worker;
  pending: Map<number, Pending<TOut>>;
  started: Promise<void>;
  up: boolean;
}

type Message<TOut> = { id: number; ok: true; result: TOut } | { id: number; ok: false; error: string } | { ready: true } | { ready: false; error: string };

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
    let started!: { resolve: () => void; reject: (e: Error) => void };
    const slot: Slot<TOut> = {
      worker,
      pending: new Map(),
      up: false,
      started: new Promise<void>((resolve, reject) => (started = { resolve, reject })),
    };
    slot.started.catch(() => undefined);
    worker.on('message', (msg: Message<TOut>) => {
      if ('ready' in msg) {
        if (msg.ready) {
          slot.up = true;
          started.resolve();
        } else started.reject(new Error(msg.error));
        return;
      }
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    });
    const fail = (why: string): void => {
      started.reject(new Error(why));
      for (const p of slot.pending.values()) p.reject(new Error(why));
      slot.pending.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0 && slot.up && !this.closed) this.slots[i] = this.spawn();
    };
    worker.on('error', (e) => fail(`worker failed: ${e.message}`));
    worker.on('exit', (code) => {
      if (!this.closed) fail(`worker exited with code ${code}`);
    });
    return slot;
  }

  /** Resolves once every worker has finished its start-up; rejects with the first worker's reason if one failed. */
  ready(): Promise<void> {
    return Promise.all(this.slots.map((s) => s.started)).then(() => undefined);
  }

  /** tasks queued or running */
  get inFlight(): number {
    return this.slots.reduce((s, x) => s + x.pending.size, 0);
  }

  private leastLoaded(): Slot<TOut> {
    let slot = this.slots[0];
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    return slot;
  }

  run(task: TIn, transfer: Transferable[] = []): Promise<TOut> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    const slot = this.leastLoaded();
    const id = this.nextId++;
    return new Promise<TOut>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, task }, transfer);
    });
  }

  /** A message outside the task protocol (e.g. a buffer handed back for reuse), to the least-loaded worker. */
  post(message: object, transfer: Transferable[] = []): void {
    if (this.closed) return;
    this.leastLoaded().worker.postMessage({ control: message }, transfer);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

export interface WorkerSetup {
  /** start-up work (loading data, building tables); tasks are answered only after it */
  init?: () => Promise<void>;
  /** messages outside the task protocol */
  onControl?: (message: unknown) => void;
}

/** Worker side: start up, then answer each task with handler's result, or with its error's message. */
export function serveTasks<TIn, TOut>(handler: (task: TIn) => Promise<{ result: TOut; transfer?: Transferable[] }>, setup: WorkerSetup = {}): void {
  const port = parentPort;
  if (!port) throw new Error('serveTasks must run in a worker thread');
  const started = (setup.init ?? (async () => undefined))();
  started.then(
    () => port.postMessage({ ready: true }),
    (e: Error) => port.postMessage({ ready: false, error: e.message ?? String(e) }),
  );
  port.on('message', async ({ id, task, control }: { id?: number; task: TIn; control?: unknown }) => {
    if (id === undefined) {
      setup.onControl?.(control);
      return;
    }
    try {
      await started;
      const { result, transfer } = await handler(task);
      port.postMessage({ id, ok: true, result }, transfer ?? []);
    } catch (e) {
      port.postMessage({ id, ok: false, error: (e as Error).message ?? String(e) });
    }
  });
}

import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MODALITIES, type Modality } from '../common/modality.js';
import { looksComplete } from '../frames/decode.js';
import type { FrameInput, FrameSet } from '../frames/frame.js';
import type { CaptureDriver } from './driver.js';

export interface WatchFolderOptions {
  dir: string;
  /** regular expression on file names with named groups `wafer` and `modality` */
  pattern: string;
  /** how the modality group's values map onto modalities (case-insensitive) */
  modalityNames: Record<string, Modality>;
  /** modalities a wafer waits for before it is complete */
  expect: Modality[];
  /** after a wafer's first frame, how long to wait for the rest; then it goes on with the others missing */
  timeoutMs: number;
  /** a file is taken once its size has not changed for this long (vendors write in pieces) */
  settleMs: number;
  /** rescan interval, for events the file watcher misses (network mounts) */
  pollMs: number;
  /** what happens to a file once read: keep it, delete it, or move it to <dir>/done */
  after: 'keep' | 'delete' | 'move';
  lot?: string;
}

export const DEFAULT_WATCH: Omit<WatchFolderOptions, 'dir'> = {
  pattern: '^(?<wafer>.+)[_.-](?<modality>visible|vis|rgb|infrared|ir|xray|x-ray|xr)\\.(?:png|tiff?|jpe?g)$',
  modalityNames: { visible: 'visible', vis: 'visible', rgb: 'visible', infrared: 'infrared', ir: 'infrared', xray: 'xray', 'x-ray': 'xray', xr: 'xray' },
  expect: [...MODALITIES],
  timeoutMs: 3000,
  settleMs: 100,
  pollMs: 500,
  after: 'move',
};

interface Group {
  wafer: string;
  startedAt: number;
  arrivedAt: number;
  frames: Partial<Record<Modality, FrameInput>>;
  timer: NodeJS.Timeout;
}

/**
 * Frames dropped into a folder by vendor capture software, grouped by wafer id. Files already in the
 * folder at start are taken too (with `move` or `delete`, whatever is in the folder is still pending).
 */
export class WatchFolderCapture implements CaptureDriver {
  readonly name = 'watch-folder';
  readonly stats = { filesTaken: 0, filesIgnored: 0, filesLate: 0, filesDuplicate: 0, incompleteWafers: 0 };
  private readonly o: WatchFolderOptions;
  private readonly re: RegExp;
  private readonly groups = new Map<string, Group>();
  private readonly candidates = new Map<string, { size: number; since: number; first: number }>();
  private readonly handled = new Set<string>();
  private readonly emitted = new Set<string>();
  private readonly ready: FrameSet[] = [];
  private wake: (() => void) | null = null;
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private stopped = false;
  private seq = 0;
  private readonly t0 = performance.now();
  private scanning: Promise<void> = Promise.resolve();
  onIgnored?: (name: string, why: string) => void;

  constructor(options: Partial<WatchFolderOptions> & { dir: string }) {
    this.o = { ...DEFAULT_WATCH, ...options };
    this.re = new RegExp(this.o.pattern, 'i');
  }

  async *frames(): AsyncGenerator<FrameSet> {
    await mkdir(this.o.dir, { recursive: true });
    if (this.o.after === 'move') await mkdir(join(this.o.dir, 'done'), { recursive: true });
    this.watcher = watch(this.o.dir, () => this.rescan());
    this.watcher.on('error', () => this.rescan());
    this.poll = setInterval(() => this.rescan(), this.o.pollMs);
    this.rescan();
    while (!this.stopped || this.ready.length > 0) {
      const next = this.ready.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    // wafers still waiting for frames go out now, with what they have
    for (const g of [...this.groups.values()]) this.finish(g, 'capture stopped');
    this.wake?.();
  }

  private rescan(): void {
    if (this.stopped) return;
    this.scanning = this.scanning.then(() => this.scan()).catch(() => undefined);
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.o.dir);
    } catch {
      return;
    }
    const now = performance.now();
    for (const name of names) {
      if (this.handled.has(name) || this.stopped) continue;
      const m = this.re.exec(name);
      const modality = m?.groups?.modality ? this.o.modalityNames[m.groups.modality.toLowerCase()] : undefined;
      if (!m?.groups?.wafer || !modality) {
        if (name !== 'done') {
          this.handled.add(name);
          this.stats.filesIgnored++;
          this.onIgnored?.(name, 'name does not match the pattern');
        }
        continue;
      }
      const path = join(this.o.dir, name);
      let size: number;
      try {
        const st = await stat(path);
        if (!st.isFile()) continue;
        size = st.size;
      } catch {
        continue;
      }
      const c = this.candidates.get(name);
      if (!c || c.size !== size || size === 0) {
        this.candidates.set(name, { size, since: now, first: c?.first ?? now });
        setTimeout(() => this.rescan(), this.o.settleMs + 5).unref();
        continue;
      }
      if (now - c.since < this.o.settleMs) continue;
      let bytes: Buffer | null = null;
      try {
        bytes = await readFile(path);
      } catch {
        // gone or unreadable between stat and read: the next scan tells which
      }
      // a writer that paused longer than settleMs leaves a file that ends too early: wait for the rest,
      // but not past the wafer timeout, after which it goes on as it is and decoding reports it
      if (bytes && !looksComplete(bytes) && now - c.first < this.o.timeoutMs) {
        c.since = now;
        setTimeout(() => this.rescan(), this.o.settleMs + 5).unref();
        continue;
      }
      this.candidates.delete(name);
      this.handled.add(name);
      // a file that was moved or deleted can be forgotten; a later file of the same name is a new frame
      if (await this.take(name, path, m.groups.wafer, modality, bytes)) this.handled.delete(name);
    }
  }

  /** Reads a settled file into its wafer's group; true when the file has left the folder. */
  private async take(name: string, path: string, wafer: string, modality: Modality, read: Buffer | null): Promise<boolean> {
    let input: FrameInput;
    let gone = false;
    try {
      const bytes = read ?? (await readFile(path));
      input = { kind: 'bytes', bytes, name: path };
      this.stats.filesTaken++;
      if (this.o.after === 'delete') await unlink(path);
      if (this.o.after === 'move') await rename(path, join(this.o.dir, 'done', name));
      gone = this.o.after !== 'keep';
    } catch (e) {
      input = { kind: 'error', error: `cannot read ${path}: ${(e as Error).message}` };
    }
    if (this.emitted.has(wafer)) {
      this.stats.filesLate++;
      this.onIgnored?.(name, `wafer ${wafer} was already passed on`);
      return gone;
    }
    let g = this.groups.get(wafer);
    if (!g) {
      g = { wafer, startedAt: performance.now(), arrivedAt: Date.now(), frames: {}, timer: setTimeout(() => this.finish(g!, `not received within ${this.o.timeoutMs} ms`), this.o.timeoutMs) };
      this.groups.set(wafer, g);
    }
    if (g.frames[modality]) {
      this.stats.filesDuplicate++;
      this.onIgnored?.(name, `a second ${modality} frame for wafer ${wafer}`);
      return gone;
    }
    g.frames[modality] = input;
    if (this.o.expect.every((m) => g.frames[m])) this.finish(g, '');
    return gone;
  }

  private finish(g: Group, why: string): void {
    clearTimeout(g.timer);
    this.groups.delete(g.wafer);
    this.emitted.add(g.wafer);
    if (this.emitted.size > 100_000) this.emitted.delete(this.emitted.values().next().value!);
    const frames = {} as Record<Modality, FrameInput>;
    let incomplete = false;
    for (const m of MODALITIES) {
      const f = g.frames[m];
      if (f) frames[m] = f;
      else {
        frames[m] = { kind: 'missing', ...(this.o.expect.includes(m) ? { reason: why } : {}) };
        if (this.o.expect.includes(m)) incomplete = true;
      }
    }
    if (incomplete) this.stats.incompleteWafers++;
    this.ready.push({ wafer: g.wafer, lot: this.o.lot, seq: this.seq++, atMs: g.startedAt - this.t0, arrivedAt: g.arrivedAt, frames });
    this.wake?.();
  }
}

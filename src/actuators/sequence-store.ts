import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The last sequence number used for an arm, kept in a small JSON file so a move is applied at most
 * once also across a restart. Written before the number is sent (write-ahead), replaced atomically
 * (temporary file, fsync, rename) so a crash leaves either the old or the new number, never half.
 */
export class SequenceStore {
  constructor(
    readonly file: string,
    private readonly arm: string,
  ) {}

  load(): number | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const j = JSON.parse(text) as { arm?: unknown; lastSeq?: unknown };
    if (j.arm !== this.arm) throw new Error(`${this.file}: holds the sequence of arm ${String(j.arm)}, not ${this.arm}`);
    if (typeof j.lastSeq !== 'number' || !Number.isInteger(j.lastSeq) || j.lastSeq < 0 || j.lastSeq > 65535) throw new Error(`${this.file}: lastSeq is not a register value`);
    return j.lastSeq;
  }

  save(lastSeq: number): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify({ arm: this.arm, lastSeq, at: new Date().toISOString() }) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    // The rename itself survives power loss only once the folder is synced.
    try {
      const dfd = openSync(dirname(this.file), 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // Some file systems refuse fsync on a folder; the rename is still atomic there.
    }
  }
}

/** Next sequence number: never 0, which is what an ack register holds after power-on. */
export function nextSeq(last: number): number {
  const n = (last + 1) % 65536;
  return n === 0 ? 1 : n;
}

/** Whether register value a is ahead of b, counting modulo 2^16. */
export function seqAhead(a: number, b: number): boolean {
  const d = (a - b + 65536) % 65536;
  return d !== 0 && d < 32768;
}

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The birth/death sequence number, one per MQTT CONNECT. It must survive restarts: a host that saw
 * NDEATH bdSeq 7 and then an NBIRTH with bdSeq 7 from a restarted node would take the new session for
 * the dead one. Written before the CONNECT that carries it, so a crash in between only skips a value.
 */
export class BdSeq {
  private last: number | null = null;
  /** why the stored value could not be read (the count then starts again at 0) */
  readonly problem: string | null = null;

  constructor(readonly path: string | null) {
    if (!path) return;
    try {
      this.last = read(path);
    } catch (e) {
      this.problem = (e as Error).message;
    }
  }

  /** The value for the next CONNECT: one more than the last used (255 wraps to 0), persisted. */
  next(): number {
    const v = this.last === null ? 0 : (this.last + 1) % 256;
    if (this.path) {
      mkdirSync(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.tmp`;
      writeFileSync(tmp, `${JSON.stringify({ bdSeq: v })}\n`);
      renameSync(tmp, this.path);
    }
    this.last = v;
    return v;
  }

  get current(): number | null {
    return this.last;
  }
}

function read(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const v = (JSON.parse(text) as { bdSeq?: unknown }).bdSeq;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) throw new Error(`${path}: expected {"bdSeq": 0..255}, found ${text.trim()}`);
  return v;
}

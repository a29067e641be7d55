import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { GapRecord } from './records.js';
import type { Channel } from './topics.js';

/**
 * Records waiting for the broker, on disk, in the order they were made. A record is taken for
 * sending, then either acknowledged (deleted) or put back by rewind() when the connection drops,
 * so after a crash or reconnect delivery starts again at the oldest unacknowledged record.
 *
 * Bounded by payload bytes. When full, a new record is refused, never an old one dropped, and the
 * refusal is kept as a gap row in the record's place: the stream then says exactly what is missing
 * and where. A gap row is reserved space outside the bound (one open at a time, a few hundred bytes).
 */

export interface OutboxOptions {
  maxBytes: number;
  /** share of maxBytes at which onHighWater(true) fires; it clears below 90% of that */
  highWater: number;
  synchronous: 'full' | 'normal';
  onHighWater?: (active: boolean, s: OutboxStats) => void;
}

export interface OutboxRow {
  seq: number;
  channel: Channel | 'gap';
  payload: string;
}

export interface OutboxStats {
  depth: number;
  bytes: number;
  maxBytes: number;
  highWater: boolean;
  /** records refused since start, per channel */
  refused: Partial<Record<Channel, number>>;
}

export type AppendResult = { kept: true; seq: number } | { kept: false; gapSeq: number };

const DELETE_BATCH = 500;

export class Outbox {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly after: Database.Statement;
  private readonly updateGap: Database.Statement;
  private readonly deleteOne: Database.Statement;
  private readonly deleteMany: (seqs: number[]) => void;
  private depthN = 0;
  private bytesN = 0;
  private lastSeq = 0;
  /** highest seq handed out by next() since the last rewind */
  private cursor = 0;
  private readonly taken = new Set<number>();
  private readonly acked: number[] = [];
  private flushScheduled = false;
  private gap: { seq: number; record: GapRecord } | null = null;
  private high = false;
  private readonly refused: Partial<Record<Channel, number>> = {};
  private closed = false;

  constructor(
    readonly path: string,
    private readonly o: OutboxOptions,
  ) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    // auto_vacuum only takes effect before the first table exists; it lets an emptied outbox give its disk back.
    this.db.pragma('auto_vacuum = INCREMENTAL');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${o.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    // AUTOINCREMENT: sequence numbers never go back, even after the table was emptied, so a
    // consumer can spot duplicates of an at-least-once delivery by (client, seq).
    this.db.exec('CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, payload TEXT NOT NULL, bytes INTEGER NOT NULL, at INTEGER NOT NULL)');
    this.insert = this.db.prepare('INSERT INTO outbox (channel, payload, bytes, at) VALUES (?, ?, ?, ?)');
    this.after = this.db.prepare('SELECT seq, channel, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
    this.updateGap = this.db.prepare('UPDATE outbox SET payload = ? WHERE seq = ?');
    this.deleteOne = this.db.prepare('DELETE FROM outbox WHERE seq = ?');
    this.deleteMany = this.db.transaction((seqs: number[]) => {
      for (const s of seqs) this.deleteOne.run(s);
    });
    const s = this.db.prepare("SELECT count(*) AS n, coalesce(sum(CASE WHEN channel = 'gap' THEN 0 ELSE bytes END), 0) AS b, coalesce(max(seq), 0) AS m FROM outbox").get() as { n: number; b: number; m: number };
    this.depthN = s.n;
    this.bytesN = s.b;
    this.lastSeq = s.m;
    this.checkHighWater();
  }

  get depth(): number {
    return this.depthN;
  }

  stats(): OutboxStats {
    return { depth: this.depthN, bytes: this.bytesN, maxBytes: this.o.maxBytes, highWater: this.high, refused: { ...this.refused } };
  }

  /** Keeps a record, or refuses it when full and counts it in the gap row at its place. Durable on return. */
  append(channel: Channel, payload: string, info: { at: string; wafer?: string } = { at: new Date().toISOString() }): AppendResult {
    const bytes = Buffer.byteLength(payload);
    if (this.bytesN + bytes > this.o.maxBytes) return { kept: false, gapSeq: this.refuse(channel, info) };
    const seq = Number(this.insert.run(channel, payload, bytes, Date.now()).lastInsertRowid);
    this.lastSeq = seq;
    this.depthN++;
    this.bytesN += bytes;
    this.checkHighWater();
    return { kept: true, seq };
  }

  /** Up to `n` records after those already taken, oldest first. */
  next(n: number): OutboxRow[] {
    if (n <= 0 || this.cursor >= this.lastSeq) return [];
    const rows = this.after.all(this.cursor, n) as OutboxRow[];
    for (const r of rows) {
      this.taken.add(r.seq);
      this.cursor = r.seq;
      // Once a gap row has gone out its counts are final; later refusals open a new one.
      if (r.seq === this.gap?.seq) this.gap = null;
    }
    return rows;
  }

  /** The broker has it: delete. Deletes are batched, since every commit is a disk flush. */
  ack(seq: number): void {
    if (!this.taken.delete(seq)) return;
    this.acked.push(seq);
    if (this.acked.length >= DELETE_BATCH) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** The connection dropped: every record taken but not acknowledged goes out again, in order. */
  rewind(): void {
    this.flush();
    this.taken.clear();
    this.cursor = 0;
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.acked.length === 0) return;
    const seqs = this.acked.splice(0);
    const rows = this.db.prepare(`SELECT coalesce(sum(CASE WHEN channel = 'gap' THEN 0 ELSE bytes END), 0) AS b, count(*) AS n FROM outbox WHERE seq IN (${seqs.map(() => '?').join(',')})`).get(...seqs) as { b: number; n: number };
    this.deleteMany(seqs);
    this.depthN -= rows.n;
    this.bytesN -= rows.b;
    if (this.gap && seqs.includes(this.gap.seq)) this.gap = null;
    if (this.depthN === 0) this.db.pragma('incremental_vacuum');
    this.checkHighWater();
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private refuse(channel: Channel, info: { at: string; wafer?: string }): number {
    this.refused[channel] = (this.refused[channel] ?? 0) + 1;
    const g = this.gap;
    // A gap row grows only while it is the newest row: a record kept after it closes it.
    if (g && g.seq === this.lastSeq) {
      g.record.dropped[channel] = (g.record.dropped[channel] ?? 0) + 1;
      g.record.last = info;
      this.updateGap.run(JSON.stringify(g.record), g.seq);
      return g.seq;
    }
    const record: GapRecord = { dropped: { [channel]: 1 }, first: info, last: info };
    const payload = JSON.stringify(record);
    const seq = Number(this.insert.run('gap', payload, Buffer.byteLength(payload), Date.now()).lastInsertRowid);
    this.lastSeq = seq;
    this.depthN++;
    this.gap = { seq, record };
    return seq;
  }

  private checkHighWater(): void {
    const mark = this.o.maxBytes * this.o.highWater;
    const high = this.high ? this.bytesN >= mark * 0.9 : this.bytesN >= mark;
    if (high === this.high) return;
    this.high = high;
    this.o.onHighWater?.(high, this.stats());
  }
}

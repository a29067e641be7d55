import { join } from 'node:path';
import t from 'tap';
import { Outbox } from '../src/telemetry/outbox.js';
import type { GapRecord } from '../src/telemetry/records.js';
import { tempDir } from './helpers.js';

const opts = { maxBytes: 1 << 20, highWater: 0.8, synchronous: 'normal' as const };

t.test('records come out in order, are deleted once acknowledged, and survive reopening', async (t) => {
  const path = join(tempDir(t, 'wi-outbox-'), 'sub', 'outbox.sqlite');
  const a = new Outbox(path, opts);
  for (let i = 0; i < 10; i++) a.append('results', JSON.stringify({ i }));
  a.append('moves', '{"m":1}');
  t.equal(a.depth, 11);
  const first = a.next(4);
  t.same(first.map((r) => JSON.parse(r.payload).i), [0, 1, 2, 3]);
  t.same(a.next(2).map((r) => JSON.parse(r.payload).i), [4, 5], 'next() continues after what was taken');
  a.ack(first[0].seq);
  a.ack(first[1].seq);
  a.flush();
  t.equal(a.depth, 9);
  a.rewind();
  t.same(a.next(3).map((r) => JSON.parse(r.payload).i), [2, 3, 4], 'after a rewind delivery starts at the oldest unacknowledged record');
  a.close();

  const b = new Outbox(path, opts);
  t.equal(b.depth, 9, 'what was not acknowledged is still there after a restart');
  const rows = b.next(100);
  t.same(rows.map((r) => r.channel), [...Array(8).fill('results'), 'moves']);
  t.ok(rows.every((r, k) => k === 0 || r.seq > rows[k - 1].seq), 'sequence numbers rise');
  for (const r of rows) b.ack(r.seq);
  b.flush();
  t.equal(b.depth, 0);
  const again = b.append('alarms', '{}');
  t.ok(again.kept && again.seq > rows[rows.length - 1].seq, 'sequence numbers never go back, even after the outbox emptied');
  b.close();
});

t.test('a full outbox refuses new records and keeps a gap record in their place; the high-water mark raises and clears', async (t) => {
  const marks: boolean[] = [];
  const payload = 'x'.repeat(1000);
  const o = new Outbox(join(tempDir(t, 'wi-outbox-'), 'o.sqlite'), { maxBytes: 1 << 16, highWater: 0.5, synchronous: 'normal', onHighWater: (a) => marks.push(a) });
  let kept = 0;
  for (let i = 0; i < 65; i++) if (o.append('results', payload, { at: `t${i}`, wafer: `W${i}` }).kept) kept++;
  t.equal(kept, 65, 'everything below the bound is kept');
  t.same(marks, [true], 'high-water alarm raised once');
  const refused = [o.append('results', payload, { at: 't65', wafer: 'W65' }), o.append('moves', payload, { at: 't66' }), o.append('results', payload, { at: 't67', wafer: 'W67' })];
  t.ok(refused.every((r) => !r.kept));
  t.equal(new Set(refused.map((r) => (r.kept ? 0 : r.gapSeq))).size, 1, 'consecutive refusals share one gap row');
  t.same(o.stats().refused, { results: 2, moves: 1 });

  const all = o.next(1000);
  t.equal(all.length, 66);
  const gap = all[65];
  t.equal(gap.channel, 'gap');
  const g = JSON.parse(gap.payload) as GapRecord;
  t.same(g, { dropped: { results: 2, moves: 1 }, first: { at: 't65', wafer: 'W65' }, last: { at: 't67', wafer: 'W67' } }, 'the gap says what is missing, from when to when');

  for (const r of all.slice(0, 40)) o.ack(r.seq);
  o.flush();
  t.same(marks, [true, false], 'cleared once it drained below the mark');
  t.ok(o.append('results', payload, { at: 't68', wafer: 'W68' }).kept, 'accepted again once there is room');
  const r2 = o.append('results', 'y'.repeat(60_000), { at: 't69', wafer: 'W69' });
  t.notOk(r2.kept);
  t.not(r2.kept ? 0 : r2.gapSeq, gap.seq, 'a gap already sent is never changed: a new one opens');
  o.close();
});

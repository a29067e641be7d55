import t from 'tap';
import { klarf } from '../src/inspection/klarf.js';
import type { ResultRecord } from '../src/inspection/result.js';

const base: Omit<ResultRecord, 'wafer' | 'findings' | 'verdict'> = {
  lot: 'L1',
  at: '2026-11-29T10:00:00.000Z',
  modalities: { visible: 'ok', infrared: 'ok', xray: 'ok' },
  reason: null,
  latencyMs: 10,
  model: 'm@1',
};

t.test('KLARF 1.2: one record per wafer, defects in micrometres from the lower-left, classes numbered from a lookup', async (t) => {
  const records: ResultRecord[] = [
    { ...base, wafer: 'W1', verdict: 'fail', findings: [{ spec: 'burr', class: 'edge-burr', xMm: 141.2, yMm: -20.5, sizeMm: 3.1, score: 0.93 }, { spec: 'hot', class: 'hotspot', xMm: 0, yMm: 0, sizeMm: 10, score: 0.7 }] },
    { ...base, wafer: 'W2', verdict: 'pass', findings: [] },
  ];
  const text = klarf(records, { lot: 'L1', station: 'line-3', recipe: 'r', classes: ['edge-burr', 'edge-chip', 'hotspot'], waferDiameterMm: 300, timestamp: new Date('2026-11-29T10:36:17Z') });
  const lines = text.trim().split('\n');
  t.equal(lines[0], 'FileVersion 1 2;');
  t.equal(lines.at(-1), 'EndOfFile;');
  t.ok(lines.includes('FileTimestamp 11-29-26 10:36:17;'));
  t.ok(lines.includes('LotID "L1";'));
  t.ok(lines.includes(' 3 "hotspot";'), 'ClassLookup ends with the last class');
  const spec = lines.find((l) => l.startsWith('DefectRecordSpec'))!.split(/\s+/);
  const cols = spec.slice(2, -1);
  t.equal(Number(spec[1]), cols.length, 'the spec counts its columns');
  const start = lines.indexOf('DefectList');
  const d1 = lines[start + 1].trim().split(/\s+/);
  const row = Object.fromEntries(cols.map((c, i) => [c, Number(d1[i])]));
  t.equal(row.XREL, 291200, 'x = 141.2 mm from the centre = 291.2 mm from the left');
  t.equal(row.YREL, 129500);
  t.equal(row.DSIZE, 3100);
  t.equal(row.CLASSNUMBER, 1);
  t.ok(lines[start + 2].trim().endsWith(';'), 'the last defect of a wafer closes the list');
  t.equal(lines.filter((l) => l.startsWith('WaferID')).length, 2);
  t.ok(lines.includes('DefectList;'), 'a wafer without defects has an empty list');
  t.match(text, /SummaryList\n 1 2 /);
});

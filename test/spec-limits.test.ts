import t from 'tap';
import { readCount, readSize, readZone } from '../src/specs/limits.js';

t.test('sizes in any unit, with the comparison they state', async (t) => {
  const cases: Array<[string, number, boolean]> = [
    ['edge burr longer than 0.5 mm', 0.5, false],
    ['any void over 200 um', 0.2, false],
    ['voids larger than 1.5 mm across', 1.5, false],
    ['particles bigger than 500µm', 0.5, false],
    ['cracks exceeding 2 millimetres', 2, false],
    ['stains of at least 10 mm', 10, true],
    ['scratch of 3 mm or more', 3, true],
    ['hot spots above 0,8 cm', 8, false],
    ['chips over 150 microns within 50 mm of the centre', 0.15, false],
  ];
  for (const [text, mm, inclusive] of cases) {
    const s = readSize(text);
    t.ok(s && Math.abs(s.mm - mm) < 1e-9 && s.inclusive === inclusive, `"${text}" -> ${JSON.stringify(s)}`);
  }
  t.equal(readSize('any void'), undefined);
  t.equal(readSize('scratches within 50 mm of the centre'), undefined, 'a zone radius is not a size');
  t.equal(readSize('more than 3 particles'), undefined, 'a bare number is a count');
});

t.test('counts', async (t) => {
  t.match(readCount('more than 3 particles'), { count: 3, inclusive: false });
  t.match(readCount('at least 2 voids in the centre'), { count: 2, inclusive: true });
  t.match(readCount('5 or more specks'), { count: 5, inclusive: true });
  t.equal(readCount('particles over 2 mm'), undefined, 'a number with a unit is a size');
  t.equal(readCount('scratches within 50 mm of the centre'), undefined);
});

t.test('zones as radius bands', async (t) => {
  t.match(readZone('scratches within 50 mm of the centre'), { minRadiusMm: 0, maxRadiusMm: 50 });
  t.match(readZone('particles within the inner 70 mm'), { minRadiusMm: 0, maxRadiusMm: 70 });
  t.match(readZone('chips outside 140 mm'), { minRadiusMm: 140 });
  t.match(readZone('burrs at the edge'), { minRadiusMm: 140 });
  t.match(readZone('stains in the center'), { minRadiusMm: 0, maxRadiusMm: 50 });
  t.equal(readZone('hot spots'), undefined);
  t.equal(readZone('voids anywhere'), undefined);
});

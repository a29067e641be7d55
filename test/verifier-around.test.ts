import t from 'tap';
import { lookAt, surest } from '../src/model/around.js';

t.test('look around: the first places get eight more crops a step away, each tied to its place', async (t) => {
  const places = [
    { xMm: 10, yMm: 20 },
    { xMm: -40, yMm: 0 },
    { xMm: 0, yMm: 100 },
  ];
  t.same(lookAt(places, undefined), places.map((p, of) => ({ ...p, of })), 'no look around: one crop per place');
  const crops = lookAt(places, { top: 2, stepMm: 3 });
  t.equal(crops.length, 3 + 2 * 8);
  t.same(crops.slice(0, 3).map((c) => c.of), [0, 1, 2], "each place's own crop first");
  const ofFirst = crops.filter((c) => c.of === 0).map((c) => `${c.xMm},${c.yMm}`).sort();
  t.same(ofFirst, ['10,20', '10,17', '10,23', '13,20', '13,17', '13,23', '7,20', '7,17', '7,23'].sort(), 'the place and the 3 x 3 grid 3 mm apart around it');
  t.equal(crops.filter((c) => c.of === 2).length, 1, 'a place past `top` is cropped once');
});

t.test('surest: each place is read from its crop most sure of the defect, its own crop on a tie', async (t) => {
  const crops = lookAt([{ xMm: 0, yMm: 0 }, { xMm: 50, yMm: 50 }], { top: 1, stepMm: 4 });
  // the particle lies 4 mm right of the first place: the crop there (index 2 + 4, dx 1 dy 0) sees it
  const probs = crops.map((c) => (c.xMm === 4 && c.yMm === 0 ? 0.97 : c.of === 1 ? 0.2 : 0.01));
  const best = surest(crops, 2, (n) => probs[n]);
  t.same(crops[best[0]], { xMm: 4, yMm: 0, of: 0 }, 'the first place moves onto the particle');
  t.equal(best[1], 1, 'the second place keeps its own crop');
  t.same(surest(crops, 2, () => 0.5), [0, 1], 'all alike: the places themselves');
});

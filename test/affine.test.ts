import t from 'tap';
import { applyAffine, centredAffine, composeAffine, invertAffine, pixelPitchMm, poseToAffine } from '../src/common/affine.js';

t.test('a pose maps the image centre to its wafer position and steps by the pitch', async (t) => {
  const m = poseToAffine(1024, 512, { pitchMm: 0.5, rotationDeg: 0, centreMm: [3, -4] });
  t.same(applyAffine(m, 511.5, 255.5), [3, -4]);
  const [x0, y0] = applyAffine(m, 0, 0);
  const [x1, y1] = applyAffine(m, 1, 1);
  t.equal(Math.round((x1 - x0) * 1000) / 1000, 0.5, 'columns go right');
  t.equal(Math.round((y1 - y0) * 1000) / 1000, -0.5, 'rows go down, so y decreases');
  t.equal(pixelPitchMm(m), 0.5);
});

t.test('rotation turns the column axis counter-clockwise', async (t) => {
  const m = poseToAffine(100, 100, { pitchMm: 1, rotationDeg: 90, centreMm: [0, 0] });
  const [x0, y0] = applyAffine(m, 49.5, 49.5);
  const [x1, y1] = applyAffine(m, 50.5, 49.5);
  t.ok(Math.abs(x1 - x0) < 1e-9 && Math.abs(y1 - y0 - 1) < 1e-9, 'one column right is one mm up');
});

t.test('inverse and composition round-trip', async (t) => {
  const m = poseToAffine(640, 512, { pitchMm: 0.62, rotationDeg: -7.5, centreMm: [-2.5, 1.5], mirrored: true });
  const id = composeAffine(m, invertAffine(m));
  for (const [i, j, v] of [[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 1], [0, 2, 0], [1, 2, 0]] as const) t.ok(Math.abs(id[i][j] - v) < 1e-9, `identity[${i}][${j}]`);
  const [x, y] = applyAffine(m, 17, 300);
  const [c, r] = applyAffine(invertAffine(m), x, y);
  t.ok(Math.abs(c - 17) < 1e-9 && Math.abs(r - 300) < 1e-9);
  t.throws(() => invertAffine([[1, 2, 0], [2, 4, 0]]), /singular/);
});

t.test('the default geometry fills the shorter side with the wafer (contracts §2)', async (t) => {
  const m = centredAffine(640, 512, 300);
  const [, top] = applyAffine(m, 319.5, -0.5);
  const [, bottom] = applyAffine(m, 319.5, 511.5);
  t.ok(Math.abs(top - 150) < 1e-9 && Math.abs(bottom + 150) < 1e-9);
});

import t from 'tap';
import { MODALITIES } from '../src/common/modality.js';
import { FusionStage } from '../src/fusion/stage.js';
import { SyntheticCapture } from '../src/capture/synthetic.js';
import { REPO_ROOT, tempDir } from './helpers.js';

t.test('a station that cannot load is an error at start, naming the file', async (t) => {
  const stage = new FusionStage({ stationDir: tempDir(t), grid: { size: 64, fieldMm: 320 }, workers: 2 });
  t.teardown(() => stage.close());
  await t.rejects(stage.ready(), { message: /station calibration .*station\.yaml: not found/ });
});

t.test('the reference station fuses synthetic wafers in worker threads, tensors handed back for reuse', async (t) => {
  const stage = new FusionStage({ stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 128, fieldMm: 320, roiRadiusMm: 158 }, workers: 2 });
  t.teardown(() => stage.close());
  await stage.ready();
  const cap = new SyntheticCapture({ line: { seed: 4, poolSize: 2 }, rateHz: 0, count: 6 });
  const seen: number[] = [];
  for await (const set of cap.frames()) {
    const w = await stage.fuse(set);
    t.same(MODALITIES.map((m) => w.modalities[m]), ['ok', 'ok', 'ok']);
    t.equal(w.tensor?.length, 8 * 128 * 128);
    seen.push(w.tensor![64 * 128 + 64]);
    stage.recycle(w.tensor);
    t.equal(w.tensor!.length, 0, 'a recycled tensor is moved, not shared');
  }
  t.ok(seen.every((v) => v > 0 && v < 1), 'centre cells hold wafer colour');
});

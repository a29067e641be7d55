import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { applyAffine } from '../src/common/affine.js';
import { MODALITIES } from '../src/common/modality.js';
import { syntheticCalibrationSource } from '../src/sim/calibration-source.js';
import { buildStation, REFERENCE_STATION } from '../src/sim/station.js';
import { loadStation } from '../src/station/load.js';
import { calibrateStation } from '../src/station/produce.js';
import { CLI, tempDir } from './helpers.js';

t.test('calibrating the simulated station recovers every camera geometry from target frames', async (t) => {
  const out = tempDir(t);
  const reports = await calibrateStation(syntheticCalibrationSource(2), out, 2);
  t.same(readdirSync(out).sort(), ['infrared-dark.png', 'infrared-flat.png', 'station.yaml', 'xray-dark.png', 'xray-flat.png']);
  const truth = buildStation(REFERENCE_STATION);
  const station = await loadStation(out);
  for (const m of MODALITIES) {
    const r = reports.find((x) => x.modality === m)!;
    t.ok(r.registration.matched >= 140, `${m}: ${r.registration.matched} marks matched`);
    t.ok(r.registration.rmsMm < 0.1, `${m}: residual ${r.registration.rmsMm.toFixed(3)} mm`);
    const cam = truth.cameras[m];
    let worst = 0;
    for (const [c, row] of [[0, 0], [cam.width - 1, 0], [0, cam.height - 1], [cam.width - 1, cam.height - 1]]) {
      const [x1, y1] = applyAffine(cam.pxToMm, c, row);
      const [x2, y2] = applyAffine(station.cameras[m]!.pxToMm, c, row);
      worst = Math.max(worst, Math.hypot(x1 - x2, y1 - y2));
    }
    t.ok(worst < 0.05, `${m}: fitted geometry within ${worst.toFixed(4)} mm of the true one at every corner`);
  }
  t.ok(station.cameras.infrared?.correction && station.cameras.xray?.correction, 'dark/flat corrections load');
  t.notOk(station.cameras.visible?.correction, 'visible has none on this station');
});

t.test('wafer-inspect record writes a lot from the command line', async (t) => {
  const dir = join(tempDir(t), 'lot');
  const r = spawnSync(process.execPath, [CLI, 'record', '--synthetic', '2', '--seed', '5', '--format', 'png', dir], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /lot SIM-5, 2 wafers/);
  t.same(readdirSync(dir).sort(), ['SIM-5-W00000', 'SIM-5-W00001', 'lot.json', 'manifest.jsonl']);
  t.same(readdirSync(join(dir, 'SIM-5-W00000')).sort(), ['infrared.png', 'visible.png', 'xray.png']);
  const bad = spawnSync(process.execPath, [CLI, 'record', '--synthetic', 'many', dir], { encoding: 'utf8' });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /--synthetic must be a whole number, got "many"/);
});

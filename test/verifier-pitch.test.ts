import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { loadConfig, stationDir } from '../src/config/load.js';
import type { FramePixels } from '../src/fusion/result.js';
import type { ResultRecord } from '../src/inspection/result.js';
import { cutCrops, MAX_COARSER } from '../src/model/crops.js';
import { openAppliance } from '../src/service/appliance.js';
import { recordSynthetic } from '../src/sim/record.js';
import { visibleGeometry } from '../src/station/load.js';
import type { StationCalibration } from '../src/station/schema.js';
import { quietLog } from './fixtures/telemetry/broker.js';
import { CLI, REPO_ROOT, SMALL_STATION, tempDir } from './helpers.js';

/**
 * The verifier learnt defects at the pitch of the station its crops came from (model.json
 * `verifier.mmPerPx`); a station whose visible camera has another pitch gets crops resampled to it,
 * and one too coarse for it is refused rather than read as blur.
 */

/** A frame of `pitch` mm per pixel, wafer (0, 0) at its centre, grey with a dark 3 mm disc at (3, -2) mm. */
function scene(pitch: number, size = 120): FramePixels {
  const data = new Uint8Array(size * size * 3).fill(150);
  const half = (size * pitch) / 2;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      // the pixel's share of the disc, from a 4 x 4 sampling of its area
      let inside = 0;
      for (let u = 0; u < 4; u++) for (let v = 0; v < 4; v++) inside += Math.hypot(-half + (c + (v + 0.5) / 4) * pitch - 3, half - (r + (u + 0.5) / 4) * pitch + 2) < 1.5 ? 1 : 0;
      data.fill(Math.round(150 - (120 * inside) / 16), (r * size + c) * 3, (r * size + c) * 3 + 3);
    }
  }
  return { width: size, height: size, data, pxToMm: [[pitch, 0, -half + pitch / 2], [0, -pitch, half - pitch / 2]] };
}

/** Of a crop's first channel, the disc's area in crop pixels (each pixel's darkness below the grey over the disc's contrast, summed) and its centre. */
function disc(crop: Float32Array, P: number): { area: number; row: number; col: number } {
  let area = 0;
  let row = 0;
  let col = 0;
  for (let i = 0; i < P; i++) {
    for (let j = 0; j < P; j++) {
      const dark = Math.max(0, (-crop[i * P + j] * 255) / 120);
      area += dark;
      row += i * dark;
      col += j * dark;
    }
  }
  return { area, row: row / area, col: col / area };
}

t.test('crops are cut at the verifier\'s pitch: a 3 mm disc covers as many crop pixels from a finer or a slightly coarser frame', async (t) => {
  const P = 16;
  const crop = { px: P, mmPerPx: 0.5 };
  const cut = (pitch: number): Float32Array => {
    const out = new Float32Array(3 * P * P);
    cutCrops(scene(pitch), [{ xMm: 3, yMm: -2 }], crop, out);
    return out;
  };
  const own = disc(cut(0.5), P);
  // pi x 1.5^2 mm^2 over 0.25 mm^2 a pixel
  t.ok(Math.abs(own.area - 28.3) <= 1.5, `at its own pitch: ${own.area.toFixed(1)} pixels`);
  for (const pitch of [0.25, 0.125, 0.6]) {
    const d = disc(cut(pitch), P);
    t.ok(Math.abs(d.area - own.area) <= 0.1 * own.area, `from ${pitch} mm/px: ${d.area.toFixed(1)} pixels against ${own.area.toFixed(1)}`);
    t.ok(Math.hypot(d.row - own.row, d.col - own.col) <= 1, `from ${pitch} mm/px: centred within a pixel of the crop at its own pitch`);
  }
  // pixel for pixel, a frame of 0.25 mm/px would show the disc four times as large: 113 pixels
  const naive = new Float32Array(3 * P * P);
  cutCrops(scene(0.25), [{ xMm: 3, yMm: -2 }], { px: P, mmPerPx: 0.25 }, naive);
  t.ok(disc(naive, P).area > 100, 'the same frame cut at its own pitch holds the disc four times as large');
  t.throws(
    () => cutCrops(scene(0.5 * MAX_COARSER * 1.1), [{ xMm: 3, yMm: -2 }], crop, new Float32Array(3 * P * P)),
    /visible frame at 0\.8250 mm\/px is too coarse for the verifier, which reads crops at 0\.5 mm\/px \(at most 1\.5 times coarser\)/,
  );
});

/** A copy of the reference station whose visible camera is `factor` times coarser (as many times fewer pixels a side). */
function coarseStation(root: string, factor: number): string {
  const dir = join(root, 'coarse');
  cpSync(join(REPO_ROOT, 'calibration/reference'), dir, { recursive: true });
  const cal = parse(readFileSync(join(dir, 'station.yaml'), 'utf8')) as StationCalibration;
  const v = cal.modalities.visible!;
  v.width /= factor;
  v.height /= factor;
  v.pxToMm = v.pxToMm.map((row) => [row[0] * factor, row[1] * factor, row[2]]) as typeof v.pxToMm;
  writeFileSync(join(dir, 'station.yaml'), stringify({ ...cal, station: 'coarse' }));
  return dir;
}

const MM11 = join(REPO_ROOT, 'models/wafer-mm-11');
const RECIPE = join(REPO_ROOT, 'deploy/recipe.example.yaml');
const THRESHOLDS = join(REPO_ROOT, 'calibration/reference/thresholds.yaml');
// the example recipe's specs of the classes wafer-mm-11's verifier judges
const VERIFIED = /edge-burr|edge-chip|scratch|particle/;

t.test('a station whose visible camera is too coarse for the verifier: the specs it judges are refused before any wafer, and wafers that turn out so are not inspected', async (t) => {
  const dir = tempDir(t);
  const lot = join(dir, 'lot');
  // the small station's visible camera: 0.632 mm/px, four times the 0.158 of wafer-mm-11's verifier
  await recordSynthetic({ count: 2, out: lot, format: 'tiff', rateHz: 15, workers: 2, line: { seed: 35, defectRate: 0, station: SMALL_STATION } });
  const out = join(dir, 'results.jsonl');
  const replay = () => spawnSync(process.execPath, [CLI, 'replay', lot, '--model', MM11, '--recipe', RECIPE, '--out', out, '--pace', 'max'], { encoding: 'utf8' });

  // the lot says where its frames come from: replay refuses before inspecting
  const refused = replay();
  t.equal(refused.status, 1, 'replay: exit 1');
  const lines = refused.stderr.split('\n').filter((l) => /is judged by wafer-mm-11's verifier/.test(l));
  t.ok(lines.length >= 4, `one line per verified spec of the recipe (${lines.length})`);
  for (const l of lines) t.match(l, /on crops of the visible frame, and visible frame at 0\.63\d\d mm\/px is too coarse for the verifier, which reads crops at 0\.158 mm\/px .*; use a model without a verifier/);
  t.match(refused.stderr, /spec\(s\) of .*recipe\.example\.yaml could not be read; nothing was inspected/);
  t.notOk(existsSync(out), 'no results written');

  // the line simulation of the same lot, with the default model: refused at start from the lot's own geometry, not the station's
  const sim = spawnSync(process.execPath, [CLI, 'simulate', '--lot', lot, '--pace', 'max', '--out', out], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' }, timeout: 120_000 });
  t.not(sim.status, 0, 'simulate: refused');
  t.match(sim.stderr, /is judged by wafer-mm-\d+'s verifier on crops of the visible frame, and visible frame at 0\.63\d\d mm\/px is too coarse for the verifier/);
  t.equal(existsSync(out) ? readFileSync(out, 'utf8') : '', '', 'no result records written');
  rmSync(out, { force: true });

  // without its geometry the frames are read as centred on the wafer, of a pitch known only per wafer
  const meta = JSON.parse(readFileSync(join(lot, 'lot.json'), 'utf8')) as { geometry?: unknown };
  delete meta.geometry;
  writeFileSync(join(lot, 'lot.json'), JSON.stringify(meta));
  const r = replay();
  t.equal(r.status, 0, r.stderr);
  const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ResultRecord);
  t.equal(records.length, 2);
  for (const x of records) {
    t.equal(x.verdict, 'not-inspected', `${x.wafer}: never passed`);
    t.match(x.reason, /visible frame at 0\.5859 mm\/px is too coarse for the verifier, which reads crops at 0\.158 mm\/px/);
  }
  // calibrating such a model on such a lot: no threshold from wafers it could not score, and why
  const cal = spawnSync(process.execPath, [CLI, 'calibrate', 'thresholds', '--model', MM11, '--good', lot, '--out', join(dir, 'thresholds.yaml')], { encoding: 'utf8' });
  t.equal(cal.status, 1);
  t.match(cal.stderr, new RegExp(`${lot}: no wafer could be scored, 2 unusable, e\\.g\\. SIM-35-W0000[01]: visible frame at 0\\.5859 mm/px is too coarse for the verifier`));
  t.notOk(existsSync(join(dir, 'thresholds.yaml')), 'no thresholds file written');
});

t.test('specs explain and the service at start refuse, on a coarse station, the specs a model\'s verifier judges', async (t) => {
  const root = tempDir(t);
  const station = coarseStation(root, 4);
  const explain = (st: string) => spawnSync(process.execPath, [CLI, 'specs', 'explain', RECIPE, '--model', MM11, '--station', st, '--thresholds', THRESHOLDS], { encoding: 'utf8' });
  const coarse = explain(station);
  t.equal(coarse.status, 1, 'exit 1 on the coarse station');
  const refused = coarse.stdout.split('\n').filter((l) => /REJECTED/.test(l));
  t.ok(refused.length >= 4, `the verified specs are rejected (${refused.length})`);
  for (const l of refused) t.match(l, /REJECTED: (edge-burr|edge-chip|scratch|particle) is judged by wafer-mm-11's verifier on crops of the visible frame, and visible frame at 0\.6320 mm\/px is too coarse/);
  t.match(coarse.stdout, /kind\s+void/, 'a class the verifier does not judge is read as before');
  const reference = explain(join(REPO_ROOT, 'calibration/reference'));
  t.equal(reference.status, 0, `the reference station's 0.158 mm/px camera reads them all (${reference.stdout.split('\n').filter((l) => /REJECTED/.test(l)).join('; ')})`);
  t.notMatch(reference.stdout, /REJECTED/);
  // the reference station's file has thresholds for both variants of the default model
  const int8 = spawnSync(process.execPath, [CLI, 'specs', 'explain', RECIPE, '--model', MM11, '--variant', 'int8', '--thresholds', THRESHOLDS], { encoding: 'utf8' });
  t.equal(int8.status, 0, int8.stdout + int8.stderr);
  t.match(int8.stdout, /read by wafer-mm-11@ff451bc2a1ff\+/, 'INT8 is another image file, another key');

  const file = join(root, 'config.yaml');
  writeFileSync(file, [`calibrationDir: ${JSON.stringify(root)}`, 'station: coarse', `model: { dir: ${JSON.stringify(MM11)} }`, `thresholds: ${JSON.stringify(THRESHOLDS)}`, `recipe: ${JSON.stringify(RECIPE)}`, 'fusion: { workers: 1 }'].join('\n'));
  const config = await loadConfig(file);
  await t.rejects(openAppliance(config, quietLog, await visibleGeometry(stationDir(config))), { name: 'StartError', message: /spec \w+ \("[^"]+"\): (edge-burr|edge-chip|scratch|particle) is judged by wafer-mm-11's verifier on crops of the visible frame, and visible frame at 0\.6320 mm\/px is too coarse/ });
  // as a service: exit 78, so systemd does not restart into the same refusal
  writeFileSync(file, readFileSync(file, 'utf8') + `\nservice: { httpPort: 0, stateDir: ${JSON.stringify(join(root, 'state'))} }\n`);
  const run = spawnSync(process.execPath, [CLI, 'run', '--config', file], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' } });
  t.equal(run.status, 78, run.stderr);
  t.match(run.stderr, /wafer-inspect: cannot start: recipe .*recipe\.example\.yaml: spec \w+ .*visible frame at 0\.6320 mm\/px is too coarse for the verifier/);
});

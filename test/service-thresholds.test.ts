import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { loadConfig, stationDir } from '../src/config/load.js';
import { openAppliance } from '../src/service/appliance.js';
import { visibleGeometry } from '../src/station/load.js';
import { modelMissing, THRESHOLDS, writeServiceConfig } from './fixtures/service/setup.js';
import { tempDir } from './helpers.js';

const missing = modelMissing();
if (missing) t.fail(`service tests need a model: ${missing}`);

/** Opens the appliance with the given thresholds file and returns what it logged at warn. */
async function warnings(dir: string, thresholds: string): Promise<Array<Record<string, unknown>>> {
  const file = writeServiceConfig(dir);
  writeFileSync(file, readFileSync(file, 'utf8').replace(`thresholds: ${JSON.stringify(THRESHOLDS)}`, `thresholds: ${JSON.stringify(thresholds)}`));
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'warn' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) }));
  const config = await loadConfig(file);
  const app = await openAppliance(config, log, await visibleGeometry(stationDir(config)));
  await app.close();
  return lines;
}

t.test('the appliance says at start when a wafer missing a modality would be judged with complete-wafer thresholds', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-svc-thr-');
  const aboutModalities = (lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> => lines.filter((l) => /missing a modality/.test(String(l.msg)));
  t.same(aboutModalities(await warnings(dir, THRESHOLDS)), [], 'the station thresholds have them: nothing to say');

  const doc = parse(readFileSync(THRESHOLDS, 'utf8')) as { models: Record<string, { without?: unknown }> };
  for (const m of Object.values(doc.models)) delete m.without;
  const stripped = join(dir, 'old-thresholds.yaml');
  writeFileSync(stripped, stringify(doc));
  const said = aboutModalities(await warnings(dir, stripped));
  t.equal(said.length, 1, 'one warning');
  t.match(said[0].msg, /no thresholds calibrated for wafers missing a modality.*run wafer-inspect calibrate thresholds again/);
  t.equal(said[0].thresholds, stripped, 'naming the file');
  // the service-test recipe: burr and particle need visible, voids X-ray
  t.same(said[0].specs, { burr: ['infrared', 'xray'], particle: ['infrared', 'xray'], voids: ['visible', 'infrared'] }, 'and per spec the modalities it lacks them for');
});

t.test('the appliance says at start which size limits are finer than the station can measure', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-svc-size-');
  const said = (await warnings(dir, THRESHOLDS)).filter((l) => /size limits/.test(String(l.msg)));
  t.equal(said.length, 1, 'one warning');
  t.match(said[0].msg, /size limits finer than the station can measure.*every defect of these specs found breaks them/);
  // the service-test recipe's limits (2, 1 and 1.5 mm) are all within the shipped size fits' margins (README, "Sizes")
  const specs = said[0].specs as Record<string, { limitMm: number; marginMm: number }>;
  t.same(Object.keys(specs).sort(), ['burr', 'particle', 'voids']);
  t.equal(specs.burr.limitMm, 2);
  t.ok(specs.burr.marginMm > 2, `burr: margin ${specs.burr.marginMm} mm`);

  // a thresholds file from before spreads were calibrated takes its fits as exact: nothing to say
  const doc = parse(readFileSync(THRESHOLDS, 'utf8')) as { models: Record<string, { kinds: Record<string, { sizeFit?: { spread?: number } }> }> };
  for (const m of Object.values(doc.models)) for (const k of Object.values(m.kinds)) delete k.sizeFit?.spread;
  const older = join(dir, 'older-thresholds.yaml');
  writeFileSync(older, stringify(doc));
  t.same((await warnings(dir, older)).filter((l) => /size limits/.test(String(l.msg))), []);
});

t.test('the appliance says at start when its thresholds were calibrated on too few good wafers for their target', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-svc-budget-');
  const about = (lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> => lines.filter((l) => /too few good wafers/.test(String(l.msg)));
  t.same(about(await warnings(dir, THRESHOLDS)), [], 'the station thresholds meet their target: nothing to say');
  const doc = parse(readFileSync(THRESHOLDS, 'utf8')) as { models: Record<string, { goodWafers: number; expectedFalseRejectRate?: number }> };
  for (const m of Object.values(doc.models)) Object.assign(m, { goodWafers: 1270, expectedFalseRejectRate: 8 / 1271 });
  const few = join(dir, 'few-thresholds.yaml');
  writeFileSync(few, stringify(doc));
  const said = about(await warnings(dir, few));
  t.equal(said.length, 1, 'one warning');
  t.match(said[0].msg, /too few good wafers for their target.*run wafer-inspect calibrate thresholds on more/);
  t.match(said[0], { thresholds: few, goodWafers: 1270, targetFalseRejectRate: 0.003, expectedFalseRejectRate: 8 / 1271 });
});

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, parseConfig } from '../src/config/load.js';
import { captureOptions } from '../src/service/capture-options.js';
import { CLI, REPO_ROOT, tempDir } from './helpers.js';

t.test('no file: the defaults run the demo line', async (t) => {
  const c = await loadConfig();
  t.equal(c.capture.driver, 'synthetic');
  t.equal(c.capture.synthetic.rateHz, 15);
  t.equal(c.fusion.gridSize, 256);
  t.equal(c.station, 'reference');
});

t.test('the shipped example is valid', async (t) => {
  const c = await loadConfig(join(REPO_ROOT, 'deploy/wafer-inspect.example.yaml'), { LOT_ID: 'L77' });
  t.equal(c.capture.driver, 'watch');
  t.equal(c.capture.watch?.lot, 'L77');
});

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'c.yaml', env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

t.test('errors name the key path, what was expected, what was found, and the line', async (t) => {
  const p = problems(['capture:', '  synthetic:', '    rateHz: fast', '    defectRate: 1.5', 'fusion:', '  gridSize: 256', '  colour: red'].join('\n'));
  t.match(p, [/line 3: capture\.synthetic\.rateHz: expected number, found "fast"/, /line 4: capture\.synthetic\.defectRate: expected <= 1, found number 1\.5/, /fusion: unknown key "colour"/]);
  t.match(problems('capture:\n  driver: camera\n'), [/capture\.driver: expected one of "synthetic", "replay", "watch", found "camera"/]);
  t.match(problems('capture:\n  driver: replay\n'), [/capture\.replay: driver is replay but capture\.replay \(with lot\) is missing/]);
  t.match(problems('capture: [1, 2\n'), [/not valid YAML/]);
});

t.test('secrets and settings from the environment', async (t) => {
  const c = parseConfig('capture:\n  driver: watch\n  watch:\n    dir: ${DROP:-/tmp/drop}\n    lot: ${LOT}\n', 'c.yaml', { LOT: 'L9' });
  t.equal(c.capture.watch?.dir, '/tmp/drop');
  t.equal(c.capture.watch?.lot, 'L9');
  t.match(problems('capture:\n  driver: watch\n  watch:\n    dir: ${DROP}\n'), [/capture\.watch\.dir: environment variable DROP is not set/]);
});

t.test('wafer-inspect validate-config exits 0 or 1', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(good, 'fusion:\n  gridSize: 320\n');
  writeFileSync(bad, 'fusion:\n  gridSize: 8\n');
  const ok = spawnSync(process.execPath, [CLI, 'validate-config', good], { encoding: 'utf8' });
  t.equal(ok.status, 0);
  t.match(ok.stdout, /valid/);
  const no = spawnSync(process.execPath, [CLI, 'validate-config', bad], { encoding: 'utf8' });
  t.equal(no.status, 1);
  t.match(no.stderr, /line 2: fusion\.gridSize: expected >= 32, found number 8/);
  const missing = spawnSync(process.execPath, [CLI, 'validate-config', join(dir, 'nope.yaml')], { encoding: 'utf8' });
  t.equal(missing.status, 1);
  t.match(missing.stderr, /file not found/);
});

t.test('relative paths in a config file are relative to the file', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'c.yaml'), 'capture:\n  driver: replay\n  replay:\n    lot: lots/L1\n');
  const c = await loadConfig(join(dir, 'c.yaml'));
  t.equal(c.capture.replay?.lot, join(dir, 'lots/L1'));
});

t.test('the synthetic line can render another plant\'s look, and the capture is built with it', async (t) => {
  const c = parseConfig('capture:\n  synthetic:\n    look: plant\n', 'c.yaml', {});
  const look = (o: ReturnType<typeof captureOptions>): unknown => (o.driver === 'synthetic' ? o.synthetic.line.look : undefined);
  t.equal(look(captureOptions(c.capture)), 'plant');
  t.equal(look(captureOptions(parseConfig('', 'c.yaml', {}).capture)), 'default');
  t.match(problems('capture:\n  synthetic:\n    look: fab9\n').join('\n'), /capture\.synthetic\.look/);
});

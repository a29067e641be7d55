import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import t, { type Test } from 'tap';
import { SHARED_URL, waitFor } from './fixtures/telemetry/broker.js';
import { MODEL_DIR, modelMissing, THRESHOLDS } from './fixtures/service/setup.js';
import { CLI, REPO_ROOT, tempDir } from './helpers.js';

/** `npm start` and `wafer-inspect simulate`: the whole line simulation as a user runs it, in a child process. */

const missing = modelMissing();
if (missing) t.fail(`demo tests need a model: ${missing}`);

const KINDS: Record<string, string> = { burr: 'edge-burr', chip: 'edge-chip', scratch: 'scratch', particle: 'particle', stain: 'stain', crack: 'crack', voids: 'void', hot: 'hotspot' };

/**
 * A config for the model under test, small and quick (one fusion worker, two looks). The shipped model
 * reads the example recipe as it is; another model (WI_TEST_MODEL_DIR) gets the same recipe with its
 * kinds pinned, since its text side need not read the words.
 */
function writeConfig(dir: string, extra = ''): string {
  const grid = (JSON.parse(readFileSync(join(MODEL_DIR, 'model.json'), 'utf8')) as { grid: { size: number; fieldMm: number } }).grid;
  let recipe = join(REPO_ROOT, 'deploy/recipe.example.yaml');
  if (process.env.WI_TEST_MODEL_DIR) {
    const pinned = readFileSync(recipe, 'utf8').replace(/^( {2}- id: (\S+)\n {4}text: .*)$/gm, (line, _all: string, id: string) => `${line}\n    kind: ${KINDS[id]}`);
    recipe = join(dir, 'recipe.yaml');
    writeFileSync(recipe, pinned);
  }
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    [
      'log: { level: warn }',
      `model: { dir: ${JSON.stringify(MODEL_DIR)}, threads: 1, maxBatch: 4 }`,
      `thresholds: ${JSON.stringify(THRESHOLDS)}`,
      `recipe: ${JSON.stringify(recipe)}`,
      `fusion: { gridSize: ${grid.size}, fieldMm: ${grid.fieldMm}, workers: 1 }`,
      'capture: { driver: synthetic, synthetic: { poolSize: 2 } }',
      extra,
    ].join('\n'),
  );
  return file;
}

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function demo(t: Test, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { env: { ...process.env, MQTT_URL: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stderr: () => err, exited };
}

function records(file: string): Array<{ wafer: string; verdict: string }> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { wafer: string; verdict: string });
}

function subscribe(t: Test, url: string, filter: string, protocolVersion: 4 | 5): Promise<{ client: MqttClient; results: unknown[] }> {
  const client = connect(url, { protocolVersion, reconnectPeriod: 0, clientId: `demo-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}` });
  client.on('error', () => undefined);
  const results: unknown[] = [];
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/results')) results.push(JSON.parse(payload.toString()));
  });
  t.teardown(() => client.end(true));
  return new Promise((resolve, reject) => {
    client.once('connect', () => client.subscribeAsync(filter, { qos: 1 }).then(() => resolve({ client, results }), reject));
    client.once('error', reject);
  });
}

function armHeartbeats(stderr: string): Record<string, number> {
  return Object.fromEntries([...stderr.matchAll(/(sim-\w+) (\d+) heartbeats/g)].map((m) => [m[1], Number(m[2])]));
}

const VERDICTS = ['pass', 'fail', 'not-inspected'];

t.test('demo --count: every wafer has a verdict, the embedded broker carries the results, the simulated arms are reached', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-demo-');
  const out = join(dir, 'results.jsonl');
  const run = demo(t, ['--config', writeConfig(dir), '--count', '40', '--out', out]);
  await waitFor('the watch command', () => /watch the topics: .* -p (\d+) /.test(run.stderr()) || run.child.exitCode !== null, 30_000);
  const m = /watch the topics: (npx mqtt sub -h 127\.0\.0\.1 -p (\d+) -t 'wafer-inspect\/#' -v)/.exec(run.stderr());
  t.ok(m, 'the exact command to watch the topics is printed');
  const port = Number(m![2]);
  t.not(port, 1883, 'the embedded broker does not take the standard port');
  const sub = await subscribe(t, `mqtt://127.0.0.1:${port}`, 'wafer-inspect/#', 4);
  t.equal(await run.exited, 0, 'exit 0');
  const recs = records(out);
  t.equal(recs.length, 40, 'a record for every wafer');
  t.equal(new Set(recs.map((r) => r.wafer)).size, 40, 'no wafer twice');
  t.ok(recs.every((r) => VERDICTS.includes(r.verdict)), 'each with a verdict');
  t.ok(sub.results.length > 0, `a subscriber on the embedded broker received results (${sub.results.length})`);
  const hb = armHeartbeats(run.stderr());
  t.ok(hb['sim-grinder'] >= 1 && hb['sim-handler'] >= 1, `both simulated arms saw heartbeats over Modbus TCP: ${JSON.stringify(hb)}`);
  t.match(run.stderr(), /\[#{20}\] 100% 40\/40/, 'the progress display reaches 40/40');
  t.match(run.stderr(), /defect rates, last \d+ wafers: edge-burr [\d.]+%/, 'defect rates per class in the status');
});

t.test('Ctrl-C mid-run stops the line in order with exit 0, every wafer taken has its record', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-demo-int-');
  const out = join(dir, 'results.jsonl');
  const run = demo(t, ['--config', writeConfig(dir), '--out', out]);
  await waitFor('wafers through', () => existsSync(out) && records(out).length >= 10, 45_000);
  run.child.kill('SIGINT');
  t.equal(await run.exited, 0, 'exit 0 after SIGINT');
  const m = /stopped \(SIGINT\): (\d+) wafers/.exec(run.stderr());
  t.ok(m, 'the stop is reported');
  const recs = records(out);
  t.equal(recs.length, Number(m![1]), 'every wafer counted has its record');
  t.ok(recs.every((r) => VERDICTS.includes(r.verdict)));
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = netConnect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

const brokerUp = await portOpen(1883);

t.test('MQTT_URL: results go to the real broker under the configured prefix, and no broker is embedded', { skip: missing ?? false }, async (t) => {
  if (!t.ok(brokerUp, 'a broker listens on 127.0.0.1:1883 (.ci/run starts Mosquitto)')) return;
  const dir = tempDir(t, 'wi-demo-mqtt-');
  const prefix = `demo-test-${process.pid}-${Math.random().toString(16).slice(2, 6)}`;
  const sub = await subscribe(t, SHARED_URL, `${prefix}/#`, 5);
  const run = demo(t, ['--config', writeConfig(dir, `telemetry: { prefix: ${prefix} }`), '--count', '20'], { MQTT_URL: SHARED_URL });
  t.equal(await run.exited, 0);
  t.match(run.stderr(), `watch the topics: npx mqtt sub -h 127.0.0.1 -p 1883 -t '${prefix}/#' -v`);
  t.notMatch(run.stderr(), /embedded broker/);
  await waitFor('all results', () => sub.results.length >= 20, 5000).catch(() => undefined);
  t.equal(sub.results.length, 20, 'every result reached the subscriber');
});

t.test('simulate --lot: a recorded lot through the same appliance, a verdict for every wafer', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-simulate-');
  const lot = join(dir, 'lot');
  const rec = spawn(process.execPath, [CLI, 'record', lot, '--synthetic', '6', '--workers', '1'], { stdio: 'ignore' });
  t.equal(await new Promise((r) => rec.once('exit', r)), 0, 'lot recorded');
  const out = join(dir, 'results.jsonl');
  const child = spawn(process.execPath, [CLI, 'simulate', '--lot', lot, '--pace', 'max', '--config', writeConfig(dir), '--out', out], { env: { ...process.env, MQTT_URL: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  t.equal(await new Promise((r) => child.once('exit', r)), 0, 'exit 0');
  t.match(err, /lot .* \(max pace\)/);
  const recs = records(out);
  t.equal(recs.length, 6, 'a record for every wafer of the lot');
  t.ok(recs.every((r) => VERDICTS.includes(r.verdict)));
});

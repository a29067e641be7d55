import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CLI, REPO_ROOT, tempDir } from './helpers.js';

/** Start-up refusals (every problem at once, exit 78 so systemd does not restart into them) and the unit file. */

const run = (args: string[], cwd: string) => spawnSync(process.execPath, [CLI, 'run', ...args], { cwd, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' } });

t.test('config errors at start: all of them printed, exit 78', async (t) => {
  const dir = tempDir(t, 'wi-svc-cfg-');
  writeFileSync(join(dir, 'bad.yaml'), ['service:', '  httpPort: 99999', '  colour: red', 'telemetry:', '  url: http://x', 'fusion:', '  gridSize: 8'].join('\n'));
  const r = run(['--config', 'bad.yaml'], dir);
  t.equal(r.status, 78);
  t.match(r.stderr, /service\.httpPort: expected <= 65535/);
  t.match(r.stderr, /service: unknown key "colour"/);
  t.match(r.stderr, /telemetry\.url: a broker url/);
  t.match(r.stderr, /fusion\.gridSize: expected >= 32/);
  t.match(r.stderr, /4 problems/);

  writeFileSync(
    join(dir, 'arms.yaml'),
    [
      'control:',
      '  arms: [no-such-arm, ./missing.yaml]',
      '  links:',
      '    - { id: l1, source: { spec: burr }, arm: sim-grinder, parameter: feedRate, target: 0.01, gain: 0.018, trueGain: { min: 0.005, max: 0.03 } }',
      'telemetry: { enabled: true, username: u, passwordEnv: WI_TEST_UNSET_PASSWORD }',
    ].join('\n'),
  );
  const a = run(['--config', 'arms.yaml'], dir);
  t.equal(a.status, 78);
  t.match(a.stderr, /control\.arms\[0\]: no shipped hardware profile "no-such-arm"/);
  t.match(a.stderr, /control\.arms\[1\]: .*missing\.yaml.*file not found/);
  t.match(a.stderr, /telemetry: .*WI_TEST_UNSET_PASSWORD/);

  writeFileSync(join(dir, 'links.yaml'), ['control:', '  arms: [sim-grinder]', '  links:', '    - { id: l1, source: { spec: burr }, arm: sim-handler, parameter: feedRate, target: 0.01, gain: 0.018, trueGain: { min: 0.005, max: 0.03 } }'].join('\n'));
  const l = run(['--config', 'links.yaml', '--validate-config'], dir);
  t.equal(l.status, 78);
  t.match(l.stderr, /control\.links\[0\]\.arm: no hardware profile "sim-handler"/);
});

t.test('--validate-config on the shipped example', async (t) => {
  const r = run(['--config', join(REPO_ROOT, 'deploy/wafer-inspect.example.yaml'), '--validate-config'], REPO_ROOT);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /valid/);
});

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
t.test('deploy/wafer-inspect.service: systemd-analyze verify and security', { skip: analyze.status === 0 ? false : 'systemd-analyze is not installed' }, async (t) => {
  const unit = join(REPO_ROOT, 'deploy/wafer-inspect.service');
  const v = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  t.equal(v.status, 0, `verify: ${v.stderr}`);
  t.equal(v.stderr.trim(), '', 'no warnings');
  const s = spawnSync('systemd-analyze', ['security', '--offline=true', unit], { encoding: 'utf8' });
  const exposure = Number(/Overall exposure level for .*: ([\d.]+)/.exec(s.stdout)?.[1]);
  t.ok(exposure <= 2.0, `exposure ${exposure} <= 2.0`);
  t.notMatch(s.stdout, /✓ MemoryDenyWriteExecute=/, 'no MemoryDenyWriteExecute: V8 needs W+X pages');
});

t.test('deploy/install.sh parses', async (t) => {
  const r = spawnSync('bash', ['-n', join(REPO_ROOT, 'deploy/install.sh')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
});

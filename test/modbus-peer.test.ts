import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import type { AlarmEvent } from '../src/actuators/actuator.js';
import { createActuator } from '../src/actuators/index.js';
import type { ModbusActuator } from '../src/actuators/modbus.js';
import { loadProfiles } from '../src/hardware/load.js';
import { profileSchema, type HardwareProfile } from '../src/hardware/profile-schema.js';
import { SimArm } from '../src/sim/arms/sim-arm.js';
import { REPO_ROOT, tempDir } from './helpers.js';

/**
 * Against peers that are not ours: Debian's python3-pymodbus as a TCP and an RTU server (RTU over a
 * socat pty pair), and pymodbus's client against our simulated arm. Shows we speak Modbus, not a
 * dialect of our own.
 */

const PY = '/usr/bin/python3';
const SERVER = join(REPO_ROOT, 'test/fixtures/pymodbus-server.py');
const pymodbus = spawnSync(PY, ['-c', 'import pymodbus, serial_asyncio; print(pymodbus.__version__)'], { encoding: 'utf8' });
const socat = spawnSync('socat', ['-V'], { encoding: 'utf8' });
if (pymodbus.status !== 0) throw new Error(`these tests need Debian's python3-pymodbus and python3-serial-asyncio (apt-get install -y python3-pymodbus): ${pymodbus.stderr}`);
if (socat.error) throw new Error('these tests need socat (apt-get install -y socat)');

function profile(transport: Record<string, unknown>): HardwareProfile {
  return profileSchema.parse({
    id: 'peer',
    transport,
    parameters: {
      feedRate: { address: 0, type: 'float32', min: 0.5, max: 6, maxStep: 0.25, writable: true, unit: 'mm/s' },
      speed: { address: 2, type: 'uint16', min: 0, max: 600, maxStep: 25, writable: true },
      offset: { address: 3, type: 'int16', scale: 0.01, min: -2, max: 2, maxStep: 0.1, writable: true },
    },
    heartbeat: { address: 10, periodMs: 100 },
    sequence: { address: 11 },
    ack: { address: 12 },
  });
}

/** Starts a child and resolves with its first stdout line matching `ready`; killed at teardown. */
async function startChild(t: Test, cmd: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  t.teardown(() => {
    child.kill();
  });
  const lines = createInterface({ input: child.stdout! });
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not get ready: ${stderr}`)), 15_000);
    lines.on('line', (l) => {
      const m = l.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${stderr}`)));
  });
  return { child, match };
}

async function exercise(t: Test, p: HardwareProfile, stateFile: string): Promise<void> {
  const a = createActuator(p, { stateFile, backoffMs: { initial: 50, max: 200 }, ackTimeoutMs: 1000, ackPollMs: 10 }) as ModbusActuator;
  t.teardown(() => a.stop());
  const alarms: AlarmEvent[] = [];
  a.on('alarm', (x) => alarms.push(x));
  await a.start();
  t.equal(a.state, 'healthy', alarms.map((x) => x.reason).join('; '));
  t.same(Object.fromEntries(a.values()), { feedRate: 0, speed: 0, offset: 0 });
  // Out of the profile's limits: refused before anything is written.
  t.equal((await a.apply({ parameter: 'feedRate', to: 0.25 })).ok, false);
  t.same(await a.apply({ parameter: 'speed', to: 25 }), { ok: true, seq: 1, value: 25 });
  t.same(await a.apply({ parameter: 'offset', to: -0.1 }), { ok: true, seq: 2, value: -0.1 });
  t.same(await a.apply({ parameter: 'speed', to: 50 }), { ok: true, seq: 3, value: 50 });
  await new Promise((r) => setTimeout(r, 250));
  t.equal(a.state, 'healthy', 'heartbeats went through');
  t.same(alarms.map((x) => x.kind), ['refused']);
}

t.test('pymodbus TCP server: read, write, read back, sequence and ack', async (t) => {
  const { match } = await startChild(t, PY, [SERVER, 'tcp', '11', '12'], /^port (\d+)/);
  await exercise(t, profile({ kind: 'modbus-tcp', host: '127.0.0.1', port: Number(match[1]), unitId: 1, timeoutMs: 500 }), join(tempDir(t), 's.json'));
});

t.test('pymodbus RTU server over a socat pty pair', async (t) => {
  const dir = tempDir(t);
  const [ours, theirs] = [join(dir, 'ours'), join(dir, 'theirs')];
  const s = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${ours}`, `pty,raw,echo=0,link=${theirs}`], { stdio: 'ignore' });
  t.teardown(() => {
    s.kill();
  });
  for (let i = 0; i < 200 && !(existsSync(ours) && existsSync(theirs)); i++) await new Promise((r) => setTimeout(r, 25));
  t.ok(existsSync(ours) && existsSync(theirs), 'pty pair is up');
  await startChild(t, PY, [SERVER, 'rtu', '11', '12', theirs], /^ready/);
  // Parity none: the pty driver here refuses a parity setting (EINVAL), and a pty ignores it anyway.
  await exercise(t, profile({ kind: 'modbus-rtu', path: ours, baudRate: 19200, parity: 'none', unitId: 1, timeoutMs: 1000 }), join(dir, 's.json'));
});

t.test("pymodbus's client against our simulated arm", async (t) => {
  const base = (await loadProfiles()).get('sim-grinder')!;
  const arm = new SimArm(base);
  const port = await arm.listen(0);
  t.teardown(() => arm.stop());
  const script = [
    'import sys',
    'from pymodbus.client import ModbusTcpClient',
    `c = ModbusTcpClient("127.0.0.1", port=${port}, timeout=2)`,
    'assert c.connect()',
    'r = c.read_holding_registers(0, 2, slave=1)',
    'print("feed", r.registers)',
    'w = c.write_register(3, 4100, slave=1)',
    'print("write", w.isError())',
    'w = c.write_registers(101, [7], slave=1)',
    'print("seq", w.isError())',
    'r = c.read_holding_registers(102, 1, slave=1)',
    'print("ack", r.registers)',
    'r = c.read_holding_registers(50, 1, slave=1)',
    'print("unmapped", r.isError(), getattr(r, "exception_code", None))',
    'c.close()',
  ].join('\n');
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(PY, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    child.stdout.on('data', (d) => (o += d));
    child.stderr.on('data', (d) => (e += d));
    child.on('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(e))));
  });
  t.match(out, /feed \[16416, 0\]/, '2.5 as float32, high word first');
  t.match(out, /write False/);
  t.match(out, /seq False/);
  t.match(out, /ack \[7\]/);
  t.match(out, /unmapped True 2/);
  t.equal(arm.value('spindleSpeed'), 4100);
  t.same(arm.applied.map((m) => m.seq), [7]);
});

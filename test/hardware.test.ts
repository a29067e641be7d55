import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { HardwareProfileError, loadProfile, loadProfiles, parseProfile } from '../src/hardware/load.js';
import { decode, encode, fitValue, representable } from '../src/hardware/registers.js';
import { tempDir } from './helpers.js';

t.test('the shipped profiles load', async (t) => {
  const p = await loadProfiles();
  t.same([...p.keys()].sort(), ['sim-grinder', 'sim-handler', 'ur-cell']);
  const ur = p.get('ur-cell')!;
  t.equal(ur.transport.kind, 'modbus-tcp');
  for (const q of Object.values(ur.parameters)) t.ok(q.address! >= 128 && q.address! <= 255 && q.type !== 'float32', 'UR: 16-bit general-purpose registers 128-255');
  t.equal(p.get('sim-grinder')!.parameters.feedRate.type, 'float32');
  t.equal(p.get('sim-handler')!.parameters.gripPressure.wordOrder, 'low-first');
});

const GOOD = `
id: arm
transport: { kind: modbus-tcp, host: 10.0.0.5 }
parameters:
  speed: { address: 0, type: uint16, min: 0, max: 100, maxStep: 5, writable: true }
heartbeat: { address: 10 }
sequence: { address: 11 }
ack: { address: 12 }
`;

function problems(text: string): string[] {
  try {
    parseProfile(text, 'arm.yaml');
  } catch (e) {
    if (e instanceof HardwareProfileError) {
      t.match(e.message, /^arm\.yaml: \d+ problems?/);
      return e.problems;
    }
    throw e;
  }
  return [];
}

t.test('defaults are filled in', async (t) => {
  const p = parseProfile(GOOD, 'arm.yaml');
  t.match(p.transport, { port: 502, unitId: 1, timeoutMs: 1000 });
  t.match(p.parameters.speed, { scale: 1, wordOrder: 'high-first' });
  t.equal(p.heartbeat!.periodMs, 1000);
});

t.test('errors name the file, the key path, what was expected and what was found', async (t) => {
  t.match(problems(GOOD.replace('max: 100', 'max: -1')), [/parameters\.speed\.max: expected max > min \(0\), found number -1/]);
  t.match(problems(GOOD.replace('maxStep: 5', 'maxStep: 0')), [/parameters\.speed\.maxStep: expected > 0, found number 0/]);
  t.match(problems(GOOD.replace('type: uint16', 'type: uint32')), [/parameters\.speed\.type: expected one of "uint16", "int16", "float32", found "uint32"/]);
  t.match(problems(GOOD.replace('min: 0, max: 100', 'min: 0, max: 70000')), [/parameters\.speed\.max: expected a value a uint16 with scale 1 can hold \(0\.\.65535\), found number 70000/]);
  t.match(problems(GOOD.replace('host: 10.0.0.5', 'host: 10.0.0.5, port: http')), [/transport\.port: expected number, found "http"/]);
  t.match(problems(GOOD.replace('kind: modbus-tcp', 'kind: profibus')), [/transport\.kind/]);
  t.match(problems(GOOD.replace('ack: { address: 12 }', '')), [/ack: missing, expected \{address\}/]);
  t.match(problems(GOOD.replace('writable: true', 'writeable: true')), [/parameters\.speed: unknown key "writeable"/]);
  t.match(problems('id: [1\n'), [/not valid YAML/]);
});

t.test('registers may not overlap; a float32 takes two', async (t) => {
  t.match(problems(GOOD.replace('heartbeat: { address: 10 }', 'heartbeat: { address: 0 }')), [/heartbeat\.address: overlaps parameters\.speed \(registers 0\), found number 0/]);
  const twoFloats = GOOD.replace('  speed:', '  feed: { address: 5, type: float32, min: 0, max: 1, maxStep: 0.1 }\n  speed:').replace('address: 0, type: uint16', 'address: 6, type: uint16');
  t.match(problems(twoFloats), [/parameters\.speed\.address: overlaps parameters\.feed \(registers 5-6\)/]);
  t.same(problems(twoFloats.replace('address: 6, type: uint16', 'address: 7, type: uint16')), []);
  t.match(problems(GOOD.replace('address: 0, type: uint16', 'address: 65535, type: float32')), [/expected a float32 to fit two registers below 65536/]);
});

t.test('an MQTT profile needs no addresses', async (t) => {
  const p = parseProfile('id: m\ntransport: { kind: mqtt, commandTopic: cell/set, stateTopic: cell/state }\nparameters:\n  speed: { min: 0, max: 1, maxStep: 0.1, writable: true }\n', 'm.yaml');
  t.equal(p.transport.kind, 'mqtt');
});

t.test('loading from files: the file is named, duplicate ids are refused', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yaml'), GOOD);
  writeFileSync(join(dir, 'b.yaml'), GOOD);
  await t.rejects(loadProfiles(dir), /b\.yaml: 1 problem\n  - id: "arm" is already used by .*a\.yaml/);
  await t.rejects(loadProfile(join(dir, 'none.yaml')), /none\.yaml: 1 problem\n  - file not found/);
  writeFileSync(join(dir, 'b.yaml'), GOOD.replace('maxStep: 5', 'maxStep: -1'));
  await t.rejects(loadProfile(join(dir, 'b.yaml')), /b\.yaml: 1 problem\n  - parameters\.speed\.maxStep: expected > 0, found number -1/);
});

t.test('register encoding', async (t) => {
  const base = { scale: 1, unit: '', min: -1000, max: 1000, maxStep: 1, writable: true, wordOrder: 'high-first' as const };
  const f = { ...base, type: 'float32' as const };
  t.same(encode(f, 2.5), [0x4020, 0]);
  t.same(encode({ ...f, wordOrder: 'low-first' }, 2.5), [0, 0x4020]);
  t.equal(decode({ ...f, wordOrder: 'low-first' }, [0, 0x4020]), 2.5);
  const i = { ...base, type: 'int16' as const, scale: 0.01 };
  t.same(encode(i, -0.1), [65526]);
  t.equal(decode(i, [65526]), -0.1);
  t.throws(() => encode({ ...base, type: 'uint16' as const }, -1));
  t.throws(() => encode(f, NaN));
  t.equal(representable({ ...base, type: 'uint16' as const, scale: 10 }, 1234), 1230);
});

t.test('fitValue: the representable value inside the interval, or none', async (t) => {
  const base = { unit: '', min: -1000, max: 1000, maxStep: 1, writable: true, wordOrder: 'high-first' as const };
  const i = { ...base, type: 'int16' as const, scale: 0.1 };
  t.equal(fitValue(i, 0.25, 0.95, 0.27), 0.30000000000000004);
  t.equal(fitValue(i, 0.21, 0.29, 0.25), undefined, 'no register value between');
  const f = { ...base, type: 'float32' as const, scale: 1 };
  // the smallest float32 at or above x (x > 0): an interval narrower than a float32 step may hold none
  const bits = new Float32Array(1);
  const word = new Uint32Array(bits.buffer);
  const float32AtOrAbove = (x: number): number => {
    bits[0] = x;
    if (bits[0] < x) word[0]++;
    return bits[0];
  };
  for (let k = 0; k < 2000; k++) {
    const lo = Math.random() * 10;
    const hi = lo + Math.random();
    const v = fitValue(f, lo, hi, Math.random() * 20 - 5);
    if (v === undefined ? float32AtOrAbove(lo) <= hi : !(v >= lo && v <= hi && representable(f, v) === v)) t.fail(`float32 ${lo}..${hi} gave ${v}`);
    const w = fitValue(i, lo, hi, Math.random() * 20 - 5);
    if (w !== undefined && !(w >= lo && w <= hi && representable(i, w) === w)) t.fail(`int16 ${lo}..${hi} gave ${w}`);
  }
});

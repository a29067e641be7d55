import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { AlarmEvent } from '../src/actuators/actuator.js';
import { createActuator } from '../src/actuators/index.js';
import { ModbusActuator } from '../src/actuators/modbus.js';
import { connectTcp } from '../src/actuators/modbus-tcp.js';
import { nextSeq, seqAhead } from '../src/actuators/sequence-store.js';
import { loadProfiles } from '../src/hardware/load.js';
import type { HardwareProfile } from '../src/hardware/profile-schema.js';
import { SimArm } from '../src/sim/arms/sim-arm.js';
import { tempDir } from './helpers.js';

const profiles = await loadProfiles();

/** The profile pointed at a simulated arm listening on a free loopback port. */
async function simulated(t: Test, id = 'sim-grinder', heartbeatMs?: number): Promise<{ arm: SimArm; profile: HardwareProfile; port: number }> {
  const base = profiles.get(id)!;
  const arm = new SimArm(base);
  const port = await arm.listen(0);
  t.teardown(() => arm.stop());
  const transport = { ...base.transport, port, timeoutMs: 300 } as HardwareProfile['transport'];
  const profile = { ...base, transport, heartbeat: { ...base.heartbeat!, periodMs: heartbeatMs ?? base.heartbeat!.periodMs } };
  return { arm, profile, port };
}

function actuator(t: Test, profile: HardwareProfile, stateFile: string) {
  const a = createActuator(profile, { stateFile, backoffMs: { initial: 50, max: 200 }, ackTimeoutMs: 300, ackPollMs: 10 }) as ModbusActuator;
  t.teardown(() => a.stop());
  const alarms: AlarmEvent[] = [];
  a.on('alarm', (x) => alarms.push(x));
  return { a, alarms };
}

const until = async (f: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

t.test('sequence numbers skip 0 and compare modulo 2^16', async (t) => {
  t.equal(nextSeq(65535), 1);
  t.equal(nextSeq(7), 8);
  t.ok(seqAhead(3, 65530));
  t.notOk(seqAhead(65530, 3));
  t.notOk(seqAhead(5, 5));
});

t.test('a move over TCP: write, read back, commit with a sequence number, ack; heartbeat on its period', async (t) => {
  const { arm, profile } = await simulated(t, 'sim-grinder', 50);
  const dir = tempDir(t);
  const { a, alarms } = actuator(t, profile, join(dir, 'grinder.json'));
  await a.start();
  t.equal(a.state, 'healthy');
  t.equal(a.values().get('feedRate'), 2.5, 'bumpless: starts from the arm value');
  t.equal(a.values().get('wheelWear'), 0);

  const r = await a.apply({ parameter: 'feedRate', to: 2.25, reason: 'test' });
  t.same(r, { ok: true, seq: 1, value: 2.25 });
  t.equal(arm.value('feedRate'), 2.25);
  t.equal(arm.ack, 1);
  t.equal(arm.applied.length, 1);
  t.equal(arm.applied[0].values.feedRate, 2.25);
  t.same(JSON.parse(readFileSync(join(dir, 'grinder.json'), 'utf8')).lastSeq, 1);

  t.ok((await a.apply({ parameter: 'wheelWearComp', to: -0.02 })).ok, 'int16, negative');
  t.equal(arm.registers[2], 65536 - 20);
  t.ok((await a.apply({ parameter: 'chuckTemperature', to: 23.5 })).ok);
  t.equal(arm.applied.length, 3);

  await until(() => arm.lastHeartbeatAt !== undefined);
  const hb = arm.registers[100];
  await new Promise((r) => setTimeout(r, 200));
  t.ok(arm.registers[100] > hb, 'heartbeat counter keeps going');
  t.same(alarms, []);
});

t.test('the guard refuses what the profile does not allow, and nothing reaches the wire', async (t) => {
  const { arm, profile } = await simulated(t);
  const { a, alarms } = actuator(t, profile, join(tempDir(t), 's.json'));
  await a.start();
  const writes = arm.writes.length;
  for (const [parameter, to] of [
    ['wheelWear', 10],
    ['feedRate', 7],
    ['feedRate', 0.1],
    ['feedRate', 3],
    ['feedRate', NaN],
    ['spindleSpeed', 4000.5],
    ['nope', 1],
  ] as const) {
    const r = await a.apply({ parameter, to });
    t.equal(r.ok, false, `${parameter} -> ${to}`);
  }
  t.equal(arm.writes.length, writes);
  t.equal(a.state, 'healthy', 'a refusal is not a fault');
  t.equal(alarms.length, 7);
  t.ok(alarms.every((x) => x.kind === 'refused'));
});

t.test('a move is applied at most once, also across a restart', async (t) => {
  const { arm, profile } = await simulated(t);
  const dir = tempDir(t);
  const file = join(dir, 'seq.json');
  const first = actuator(t, profile, file).a;
  await first.start();
  t.ok((await first.apply({ parameter: 'feedRate', to: 2.75 })).ok);
  t.ok((await first.apply({ parameter: 'feedRate', to: 3 })).ok);
  await first.stop();

  const again = actuator(t, profile, file).a;
  await again.start();
  t.equal(again.values().get('feedRate'), 3);
  const r = await again.apply({ parameter: 'feedRate', to: 3.25 });
  t.same(r, { ok: true, seq: 3, value: 3.25 }, 'continues after the persisted number');
  t.same(arm.applied.map((m) => m.seq), [1, 2, 3]);

  // Without its state file, the actuator continues after the number the arm has seen.
  const lost = actuator(t, profile, join(dir, 'other.json')).a;
  await again.stop();
  await lost.start();
  t.equal((await lost.apply({ parameter: 'feedRate', to: 3.5 })).ok, true);
  t.same(arm.applied.map((m) => m.seq), [1, 2, 3, 4]);
  t.ok(existsSync(join(dir, 'other.json')));
});

t.test('faults freeze the arm: alarm, no more writes until healthy', async (t) => {
  t.test('wrong value on read-back', async (t) => {
    const { arm, profile } = await simulated(t);
    const { a, alarms } = actuator(t, profile, join(tempDir(t), 's.json'));
    await a.start();
    arm.fault({ kind: 'readback', address: 0, delta: 1 });
    const r = await a.apply({ parameter: 'feedRate', to: 2.75 });
    t.equal(r.ok, false);
    t.equal(a.state, 'faulted');
    t.match(alarms, [{ arm: 'sim-grinder', kind: 'readback', latched: true, reason: /read back/ }]);
    t.equal(arm.applied.length, 0, 'never committed');
    arm.fault(null);
    const writes = arm.writes.length;
    t.match(await a.apply({ parameter: 'feedRate', to: 2.5 }), { ok: false, reason: /faulted/ });
    await new Promise((r) => setTimeout(r, 300));
    t.equal(a.state, 'faulted', 'latched: no automatic recovery');
    t.equal(arm.writes.length, writes, 'no heartbeat, no move');
    a.reset();
    await until(() => a.state === 'healthy');
    t.equal(a.values().get('feedRate'), 2.75, 'the value the arm holds, for a bumpless restart');
    t.ok((await a.apply({ parameter: 'feedRate', to: 3 })).ok);
  });

  t.test('exception response', async (t) => {
    const { arm, profile } = await simulated(t);
    const { a, alarms } = actuator(t, profile, join(tempDir(t), 's.json'));
    await a.start();
    arm.fault({ kind: 'exception', code: 4, on: 'write' });
    t.equal((await a.apply({ parameter: 'spindleSpeed', to: 4100 })).ok, false);
    t.equal(a.state, 'faulted');
    t.match(alarms, [{ kind: 'exception', reason: /exception 4/ }]);
    t.equal(arm.value('spindleSpeed'), 4000);
  });

  t.test('no ack', async (t) => {
    const { arm, profile } = await simulated(t);
    const { a, alarms } = actuator(t, profile, join(tempDir(t), 's.json'));
    await a.start();
    arm.fault({ kind: 'no-ack' });
    t.equal((await a.apply({ parameter: 'spindleSpeed', to: 4100 })).ok, false);
    t.match(alarms, [{ kind: 'no-ack', reason: /not acknowledged/ }]);
  });

  t.test('the server stops mid-write; the actuator reconnects with back-off once it is back', async (t) => {
    const { arm, profile, port } = await simulated(t);
    const { a, alarms } = actuator(t, profile, join(tempDir(t), 's.json'));
    const states: string[] = [];
    a.on('state', (s) => states.push(s));
    await a.start();
    arm.fault({ kind: 'drop-on-write' });
    const r = await a.apply({ parameter: 'feedRate', to: 2.75 });
    t.equal(r.ok, false);
    t.equal(a.state, 'faulted');
    t.match(alarms, [{ kind: 'link', latched: false }]);
    await arm.stop();
    arm.fault(null);
    const writes = arm.writes.length;
    t.equal((await a.apply({ parameter: 'feedRate', to: 2.75 })).ok, false);
    await new Promise((r) => setTimeout(r, 400));
    t.equal(a.state, 'faulted', 'still down while the server is');
    t.equal(alarms.length, 1, 'one alarm, not one per reconnect attempt');
    await arm.listen(port);
    await until(() => a.state === 'healthy');
    t.equal(arm.writes.length, writes);
    t.ok((await a.apply({ parameter: 'feedRate', to: 2.75 })).ok);
    t.same(states, ['connecting', 'healthy', 'faulted', 'healthy']);
  });

  t.test('a hung server times out', async (t) => {
    const { arm, profile } = await simulated(t);
    const { a, alarms } = actuator(t, profile, join(tempDir(t), 's.json'));
    await a.start();
    arm.fault({ kind: 'hang' });
    const t0 = Date.now();
    t.equal((await a.apply({ parameter: 'feedRate', to: 2.75 })).ok, false);
    t.ok(Date.now() - t0 < 2000);
    t.match(alarms, [{ kind: 'link', reason: /no answer within|Timed out/ }]);
  });

  t.test('an arm that is not there at start faults and keeps trying', async (t) => {
    const { arm, profile, port } = await simulated(t, 'sim-handler');
    await arm.stop();
    const { a, alarms } = actuator(t, profile, join(tempDir(t), 's.json'));
    await a.start();
    t.equal(a.state, 'faulted');
    t.match(alarms, [{ arm: 'sim-handler', kind: 'link' }]);
    await arm.listen(port);
    await until(() => a.state === 'healthy');
    t.equal(a.values().get('gripPressure'), 45, 'float32, low word first');
    t.ok((await a.apply({ parameter: 'gripPressure', to: 49.5 })).ok);
    t.equal(arm.value('gripPressure'), 49.5);
  });
});

t.test('the simulated arm refuses writes to read-only and unmapped registers', async (t) => {
  const { profile } = await simulated(t);
  const c = await connectTcp(profile.transport as never);
  t.teardown(() => c.close());
  await t.rejects(c.write(5, [1]), /exception 2/);
  await t.rejects(c.write(50, [1]), /exception 2/);
  await t.rejects(c.readHolding(50, 1), /exception 2/);
  t.same(await c.readHolding(0, 2), [0x4020, 0]);
});

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import t, { type Test } from 'tap';
import type { AlarmEvent } from '../src/actuators/actuator.js';
import { createActuator } from '../src/actuators/index.js';
import { MqttActuator, type MqttArmState, type MqttCommand } from '../src/actuators/mqtt.js';
import { parseProfile } from '../src/hardware/load.js';
import type { HardwareProfile } from '../src/hardware/profile-schema.js';
import { tempDir } from './helpers.js';

/** The real broker the tests run against (Debian's mosquitto on its default port). */
const BROKER = 'mqtt://127.0.0.1:1883';

function profile(topic: string, timeoutMs = 400): HardwareProfile {
  return parseProfile(
    `
id: mqtt-grinder
transport: { kind: mqtt, commandTopic: ${topic}/cmd, stateTopic: ${topic}/state, timeoutMs: ${timeoutMs} }
parameters:
  feedRate: { type: float32, unit: mm/s, min: 0.5, max: 6, maxStep: 0.25, writable: true, nominal: 2.5 }
  chuckTemperature: { type: int16, scale: 0.1, min: 18, max: 35, maxStep: 0.5, writable: true, nominal: 23 }
  wheelWear: { min: 0, max: 2000, maxStep: 2000, nominal: 0 }
`,
    'mqtt-grinder.yaml',
  );
}

type Behaviour = 'normal' | 'mute' | 'rewrite' | 'refuse';

/**
 * A simulated arm on the broker: takes commands, applies each sequence number at most once and
 * publishes its state retained, as a robot program behind an MQTT bridge would.
 */
class MqttArm {
  readonly commands: MqttCommand[] = [];
  readonly applied: number[] = [];
  behaviour: Behaviour = 'normal';
  ack = 0;
  private client: MqttClient | undefined;

  constructor(
    readonly topic: string,
    readonly values: Record<string, number>,
  ) {}

  async start(): Promise<void> {
    const c = await connectAsync(BROKER, { clientId: `sim-arm-${randomBytes(4).toString('hex')}`, reconnectPeriod: 0 });
    this.client = c;
    c.on('message', (_topic, payload) => void this.onCommand(JSON.parse(payload.toString()) as MqttCommand));
    await c.subscribeAsync(`${this.topic}/cmd`, { qos: 1 });
    await this.publish();
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  publish(error?: string): Promise<unknown> {
    const s: MqttArmState = { ack: this.ack, values: { ...this.values }, ...(error ? { error } : {}) };
    return this.client!.publishAsync(`${this.topic}/state`, JSON.stringify(s), { qos: 1, retain: true });
  }

  private async onCommand(c: MqttCommand): Promise<void> {
    this.commands.push(c);
    if (this.behaviour === 'mute') return;
    if (this.applied.includes(c.seq)) return void (await this.publish());
    this.ack = c.seq;
    if (this.behaviour === 'refuse') return void (await this.publish('interlock open'));
    this.applied.push(c.seq);
    this.values[c.parameter] = this.behaviour === 'rewrite' ? c.value + 0.5 : c.value;
    await this.publish();
  }
}

/** A fresh topic per test, so retained states of other runs never leak in; cleared at the end. */
async function rig(t: Test, opts: { timeoutMs?: number; arm?: boolean } = {}) {
  const topic = `wafer-inspect-test/${randomBytes(6).toString('hex')}`;
  const arm = new MqttArm(topic, { feedRate: 2.5, chuckTemperature: 23, wheelWear: 140 });
  if (opts.arm !== false) await arm.start();
  const prof = profile(topic, opts.timeoutMs);
  const dir = tempDir(t);
  const stateFile = join(dir, 'seq.json');
  const make = (file = stateFile) => {
    const a = createActuator(prof, { brokerUrl: BROKER, stateFile: file, backoffMs: { initial: 50, max: 200 } }) as MqttActuator;
    const alarms: AlarmEvent[] = [];
    a.on('alarm', (x) => alarms.push(x));
    t.teardown(() => a.stop());
    return { a, alarms };
  };
  t.teardown(async () => {
    await arm.stop();
    const c = await connectAsync(BROKER, { reconnectPeriod: 0 });
    await c.publishAsync(`${topic}/state`, '', { qos: 1, retain: true });
    await c.endAsync();
  });
  return { arm, make, stateFile, dir, prof };
}

const until = async (f: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

t.test('createActuator gives an MQTT profile the MQTT actuator', async (t) => {
  t.type(createActuator(profile('x'), { stateFile: '/nonexistent/seq.json' }), MqttActuator);
});

t.test('a move: published on the command topic, confirmed on the state topic', async (t) => {
  const { arm, make, stateFile } = await rig(t);
  const { a, alarms } = make();
  await a.start();
  t.equal(a.state, 'healthy');
  t.equal(a.values().get('feedRate'), 2.5, 'bumpless: the retained state gives the arm values');
  t.equal(a.values().get('wheelWear'), 140);

  const r = await a.apply({ parameter: 'feedRate', to: 2.75, reason: 'class edge-chip: rate 0.02' });
  t.same(r, { ok: true, seq: 1, value: 2.75 });
  t.same(arm.commands, [{ seq: 1, parameter: 'feedRate', value: 2.75, reason: 'class edge-chip: rate 0.02' }]);
  t.equal(arm.values.feedRate, 2.75);
  t.equal(JSON.parse(readFileSync(stateFile, 'utf8')).lastSeq, 1, 'saved before it was sent');
  t.ok((await a.apply({ parameter: 'chuckTemperature', to: 22.5 })).ok);
  t.same(arm.applied, [1, 2]);
  t.equal(a.values().get('chuckTemperature'), 22.5);
  t.same(alarms, []);
});

t.test('the guard refuses what the profile does not allow, and nothing is published', async (t) => {
  const { arm, make } = await rig(t);
  const { a, alarms } = make();
  await a.start();
  for (const [parameter, to] of [
    ['wheelWear', 150],
    ['feedRate', 7],
    ['feedRate', 3],
    ['feedRate', NaN],
    ['chuckTemperature', 22.55],
    ['nope', 1],
  ] as const) {
    t.equal((await a.apply({ parameter, to })).ok, false, `${parameter} -> ${to}`);
  }
  await new Promise((r) => setTimeout(r, 100));
  t.same(arm.commands, []);
  t.equal(a.state, 'healthy', 'a refusal is not a fault');
  t.equal(alarms.length, 6);
  t.ok(alarms.every((x) => x.kind === 'refused'));
});

t.test('no confirmation within the timeout: fault, one alarm, nothing more published', async (t) => {
  const { arm, make } = await rig(t, { timeoutMs: 300 });
  const { a, alarms } = make();
  await a.start();
  arm.behaviour = 'mute';
  const t0 = Date.now();
  const r = await a.apply({ parameter: 'feedRate', to: 2.75 });
  t.equal(r.ok, false);
  t.ok(Date.now() - t0 < 1500, 'bounded by the timeout');
  t.equal(a.state, 'faulted');
  t.match(alarms, [{ arm: 'mqtt-grinder', kind: 'no-ack', latched: true, reason: /no confirmation .* within 300 ms/ }]);
  t.equal(arm.commands.length, 1);

  arm.behaviour = 'normal';
  t.match(await a.apply({ parameter: 'feedRate', to: 2.75 }), { ok: false, reason: /faulted/ });
  await new Promise((r) => setTimeout(r, 400));
  t.equal(a.state, 'faulted', 'latched: no automatic recovery');
  t.equal(arm.commands.length, 1, 'nothing further published');
  t.equal(alarms.length, 1);

  a.reset();
  await until(() => a.state === 'healthy');
  t.equal(a.values().get('feedRate'), 2.5, 'the value the arm holds: the unconfirmed move never happened');
  const again = await a.apply({ parameter: 'feedRate', to: 2.75 });
  t.same(again, { ok: true, seq: 2, value: 2.75 }, 'a new number: the unconfirmed one is never reused');
});

t.test('a different value or a refusal on the state topic faults the arm', async (t) => {
  t.test('different value', async (t) => {
    const { arm, make } = await rig(t);
    const { a, alarms } = make();
    await a.start();
    arm.behaviour = 'rewrite';
    t.equal((await a.apply({ parameter: 'feedRate', to: 2.75 })).ok, false);
    t.match(alarms, [{ kind: 'readback', latched: true, reason: /sent 2\.75 but the arm reports 3\.25/ }]);
    t.equal(a.state, 'faulted');
  });
  t.test('refused', async (t) => {
    const { arm, make } = await rig(t);
    const { a, alarms } = make();
    await a.start();
    arm.behaviour = 'refuse';
    t.equal((await a.apply({ parameter: 'feedRate', to: 2.75 })).ok, false);
    t.match(alarms, [{ kind: 'exception', latched: true, reason: /refused sequence 1: interlock open/ }]);
  });
});

t.test('a move is applied at most once, also across a restart', async (t) => {
  const { arm, make, dir } = await rig(t);
  const first = make().a;
  await first.start();
  t.ok((await first.apply({ parameter: 'feedRate', to: 2.75 })).ok);
  t.ok((await first.apply({ parameter: 'feedRate', to: 3 })).ok);
  await first.stop();

  const again = make().a;
  await again.start();
  t.equal(again.values().get('feedRate'), 3);
  t.same(await again.apply({ parameter: 'feedRate', to: 3.25 }), { ok: true, seq: 3, value: 3.25 }, 'continues after the persisted number');
  await again.stop();

  // Without its state file, the actuator continues after the number the arm reports.
  const lost = make(join(dir, 'other.json')).a;
  await lost.start();
  t.same(await lost.apply({ parameter: 'feedRate', to: 3.5 }), { ok: true, seq: 4, value: 3.5 });
  t.same(arm.applied, [1, 2, 3, 4]);
  t.same(
    arm.commands.map((c) => c.seq),
    [1, 2, 3, 4],
  );
});

t.test('an arm that has not published its state yet: fault, retry, healthy once it does', async (t) => {
  const { arm, make } = await rig(t, { arm: false, timeoutMs: 200 });
  const { a, alarms } = make();
  await a.start();
  t.equal(a.state, 'faulted');
  t.match(alarms, [{ kind: 'link', latched: false, reason: /no state from the arm/ }]);
  await arm.start();
  await until(() => a.state === 'healthy');
  t.ok((await a.apply({ parameter: 'feedRate', to: 2.25 })).ok);
  t.equal(alarms.length, 1, 'one alarm, not one per retry');
});

t.test('no broker: fault, no throw', async (t) => {
  const prof = profile(`wafer-inspect-test/${randomBytes(6).toString('hex')}`, 200);
  const a = createActuator(prof, { brokerUrl: 'mqtt://127.0.0.1:1', stateFile: join(tempDir(t), 's.json'), backoffMs: { initial: 5000, max: 5000 } });
  t.teardown(() => a.stop());
  const alarms: AlarmEvent[] = [];
  a.on('alarm', (x) => alarms.push(x));
  await a.start();
  t.equal(a.state, 'faulted');
  t.match(alarms, [{ kind: 'link', latched: false }]);
  t.match(await a.apply({ parameter: 'feedRate', to: 2.75 }), { ok: false, reason: /faulted/ });
});

import { join } from 'node:path';
import t from 'tap';
import { createActuator } from '../src/actuators/index.js';
import type { DefectClass } from '../src/common/defects.js';
import { loadProfiles } from '../src/hardware/load.js';
import type { HardwareProfile } from '../src/hardware/profile-schema.js';
import { ProcessBridge } from '../src/sim/arms/process-bridge.js';
import { SimArm } from '../src/sim/arms/sim-arm.js';
import { SyntheticLine } from '../src/sim/line.js';
import { BASE_RATES, NOMINAL_PARAMETERS, ProcessModel, type ProcessParameters } from '../src/sim/process.js';
import { tempDir } from './helpers.js';

const profiles = await loadProfiles();

/** Share of wafers in [from, to) carrying `c`. */
function rate(p: ProcessModel, c: DefectClass, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (p.present(i).includes(c)) n++;
  return n / (to - from);
}

t.test('the nominal parameters are the simulated arms\' nominal values', async (t) => {
  for (const id of ['sim-grinder', 'sim-handler']) {
    for (const [name, q] of Object.entries(profiles.get(id)!.parameters)) {
      if (q.writable) t.equal(NOMINAL_PARAMETERS[name as keyof ProcessParameters], q.nominal, `${id}.${name}`);
    }
  }
});

t.test('deterministic from the seed', async (t) => {
  const a = new ProcessModel({ seed: 5 });
  const b = new ProcessModel({ seed: 5 });
  const c = new ProcessModel({ seed: 6 });
  const list = (p: ProcessModel) => Array.from({ length: 3000 }, (_, i) => p.defectsFor(i));
  const la = list(a);
  t.same(list(b), la);
  t.notSame(list(c), la);
  t.same(b.defectsFor(1234), la[1234], 'any wafer, out of order');
  t.ok(la.flat().every((d) => Object.keys(d).join() === 'class'), 'classes only; the line draws places and sizes');
});

t.test('at nominal settings and no drift the driven classes sit near 1%, the others at their base rate', async (t) => {
  const p = new ProcessModel({ seed: 1 }).probabilities(0);
  for (const c of ['edge-burr', 'edge-chip', 'scratch'] as const) t.ok(Math.abs(p[c] - 0.0103) < 0.0005, `${c} ${p[c]}`);
  t.ok(Math.abs(p.hotspot - 0.0103) < 0.005, `hotspot ${p.hotspot} (thermal wander)`);
  for (const c of ['particle', 'stain', 'crack', 'void'] as const) t.equal(p[c], BASE_RATES[c]);
});

t.test('drift raises the rates of the driven classes, not of the others', async (t) => {
  const p = new ProcessModel({ seed: 2 });
  for (const c of ['edge-burr', 'edge-chip', 'hotspot', 'scratch'] as const) {
    const early = rate(p, c, 0, 3000);
    const late = rate(p, c, 17_000, 20_000);
    t.ok(late > early * 1.8, `${c}: ${early} -> ${late}`);
    t.ok(p.probabilities(20_000)[c] > p.probabilities(0)[c] + 0.015, `${c} probability`);
  }
  t.equal(p.probabilities(20_000).particle, p.probabilities(0).particle);
  t.ok(p.drift(20_000).wheelWearMm > 0.39);
});

t.test('parameter changes lower the rates the drift raised', async (t) => {
  const at = 20_000;
  const cases: [keyof ProcessParameters, number, DefectClass][] = [
    ['wheelWearComp', 0.4, 'edge-burr'],
    ['feedRate', 0.5, 'edge-chip'],
    ['chuckTemperature', 19, 'hotspot'],
    ['transferSpeed', 100, 'scratch'],
  ];
  for (const [name, value, c] of cases) {
    const p = new ProcessModel({ seed: 3 });
    const before = p.probabilities(at)[c];
    const drawnBefore = rate(p, c, at, at + 3000);
    p.set(name, value);
    const after = p.probabilities(at)[c];
    const drawnAfter = rate(p, c, at, at + 3000);
    t.ok(after < before / 2.5 && after < 0.02, `${name} ${value}: ${c} ${before} -> ${after}`);
    t.ok(drawnAfter < drawnBefore, `drawn ${drawnBefore} -> ${drawnAfter}`);
  }
  const p = new ProcessModel({ seed: 3 });
  const hi = p.present(at);
  p.set('wheelWearComp', 0.4);
  const lo = p.present(at);
  t.ok(lo.every((c) => hi.includes(c)), 'same draws: a lower probability only removes defects');
  t.throws(() => p.set('feedRate', NaN));
});

t.test('the synthetic line renders what the process plants, and is unchanged without it', async (t) => {
  const p = new ProcessModel({ seed: 4, drift: { wearMmPerWafer: 0.002 } });
  const plain = new SyntheticLine({ seed: 9, poolSize: 4 });
  const driven = new SyntheticLine({ seed: 9, poolSize: 4, defectsFor: (i) => p.defectsFor(i) });
  let planted = 0;
  let mismatches = 0;
  for (let i = 0; i < 200; i++) {
    const a = plain.plan(i);
    const b = driven.plan(i);
    if (b.lookKey !== a.lookKey || b.seed !== a.seed || JSON.stringify(b.defects) !== JSON.stringify(p.defectsFor(i))) mismatches++;
    planted += b.defects.length;
  }
  t.equal(mismatches, 0, 'same looks and seeds; the process decides the defects');
  t.ok(planted > 10, `${planted} defects planted`);
  t.same(driven.plan(7, [{ class: 'crack' }]).defects, [{ class: 'crack' }], 'an explicit list still wins');
  t.same(new SyntheticLine({ seed: 9, poolSize: 4, defectsFor: undefined }).plan(11), plain.plan(11));
});

t.test('bridge: a committed move on the simulated arm changes the process; a bare register write does not', async (t) => {
  const base = profiles.get('sim-grinder')!;
  const arm = new SimArm(base);
  const port = await arm.listen(0);
  t.teardown(() => arm.stop());
  arm.set('feedRate', 3);
  const p = new ProcessModel({ seed: 1 });
  const bridge = new ProcessBridge(p, [arm]);
  t.equal(p.parameters.feedRate, 3, 'the arm is the truth at start');

  arm.set('feedRate', 2.5);
  bridge.sync(0);
  t.equal(p.parameters.feedRate, 3, 'not committed: the program has not taken it');

  const profile: HardwareProfile = { ...base, transport: { ...(base.transport as Extract<HardwareProfile['transport'], { kind: 'modbus-tcp' }>), port, timeoutMs: 300 } };
  const a = createActuator(profile, { stateFile: join(tempDir(t), 's.json'), ackPollMs: 2 });
  t.teardown(() => a.stop());
  await a.start();
  t.ok((await a.apply({ parameter: 'wheelWearComp', to: 0.02 })).ok);
  t.equal(p.parameters.wheelWearComp, 0, 'takes effect between wafers');
  bridge.sync(1);
  t.equal(p.parameters.wheelWearComp, 0.02);
  t.equal(p.parameters.feedRate, 2.5, 'the commit takes every register as it stands');

  const defects = bridge.defectsFor(10_000);
  t.same(defects, p.defectsFor(10_000));
  t.equal(arm.value('wheelWear'), 200, 'the wear gauge reads the hidden wear (um)');
});

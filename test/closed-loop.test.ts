import t from 'tap';
import type { DefectClass } from '../src/common/defects.js';
import { loadProfiles } from '../src/hardware/load.js';
import { DEFAULT_LINKS, runClosedLoop, type ClosedLoopResult } from '../src/sim/closed-loop.js';

const profiles = await loadProfiles();

// A short run with faster drifts: 3000 wafers that wear and warm as much as 12,000 would.
const common = {
  wafers: 3000,
  seed: 11,
  windowWafers: 100,
  reportWafers: 500,
  detection: { recall: 0.9, falseAlarm: 0.002 },
  drift: { wearMmPerWafer: 8e-5, chuckCPerWafer: 8e-4, vibrationPerWafer: 4e-6 },
  profiles,
};
const driven: DefectClass[] = ['edge-burr', 'edge-chip', 'hotspot', 'scratch'];

/** Rate over the last `n` reported windows. */
const late = (r: ClosedLoopResult, c: DefectClass, n = 2) => r.windows.slice(-n).reduce((s, w) => s + w.rates[c], 0) / n;

t.test('with the controller the drifting classes end lower than without, within the limits', async (t) => {
  const open = await runClosedLoop({ ...common, mode: 'open' });
  const closed = await runClosedLoop({ ...common, mode: 'direct' });
  t.equal(open.moves.length, 0);
  t.equal(open.windows.length, 6);
  t.same(open.windows.map((w) => w.to - w.from), [500, 500, 500, 500, 500, 500]);
  for (const c of driven) {
    t.ok(late(open, c) > 1.5 * open.windows[0].rates[c], `${c} drifts up without control: ${open.windows.map((w) => w.rates[c]).join(' ')}`);
    t.ok(late(closed, c) < late(open, c) / 2, `${c}: ${late(open, c)} without, ${late(closed, c)} with`);
    t.ok(late(closed, c) < 0.025, `${c} held near its target: ${late(closed, c)}`);
  }
  for (const c of ['particle', 'stain', 'crack', 'void'] as const) t.equal(closed.rates[c], open.rates[c], `${c} is not driven: same draws`);

  t.ok(closed.moves.length > 20, `${closed.moves.length} moves`);
  let bad = 0;
  const last = new Map<string, number>();
  for (const m of closed.moves) {
    const p = profiles.get(m.arm)!.parameters[m.parameter];
    const from = last.get(m.link);
    if (!(m.to >= p.min && m.to <= p.max) || Math.abs(m.to - m.from) > p.maxStep * (1 + 1e-9) || (from !== undefined && from !== m.from)) bad++;
    last.set(m.link, m.to);
  }
  t.equal(bad, 0, 'no move outside min/max or beyond maxStep, each from where the last left it');
  t.same(Object.keys(closed.movesByLink), DEFAULT_LINKS.map((l) => l.id));
  t.ok(closed.parameters.wheelWearComp > 0.15, `the wear is made up: wheelWearComp ${closed.parameters.wheelWearComp}`);
});

t.test('through the Modbus actuator and simulated arms over TCP: the same loop, the same moves', async (t) => {
  const direct = await runClosedLoop({ ...common, mode: 'direct' });
  const modbus = await runClosedLoop({ ...common, mode: 'modbus' });
  t.equal(modbus.failedMoves, 0);
  t.same(modbus.alarms, []);
  t.same(modbus.movesByLink, direct.movesByLink);
  t.same(modbus.windows, direct.windows, 'a move reaches the process from the next wafer on either way');
  t.same(modbus.parameters, direct.parameters);
});

t.test('a run is a function of its seed', async (t) => {
  const a = await runClosedLoop({ ...common, wafers: 1000, mode: 'direct' });
  const b = await runClosedLoop({ ...common, wafers: 1000, mode: 'direct' });
  const c = await runClosedLoop({ ...common, wafers: 1000, mode: 'direct', seed: 12 });
  t.same(a.windows, b.windows);
  t.same(a.movesByLink, b.movesByLink);
  t.notSame(a.windows, c.windows);
});

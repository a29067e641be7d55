import t from 'tap';
import { controlSchema, linkSchema, type LinkConfig } from '../src/control/config.js';
import { Controller } from '../src/control/controller.js';
import { initialLinkState, stepLink, type LinkInput, type LinkState } from '../src/control/link.js';
import { dewmaMaxRatio, dewmaStable, ewmaStable, stabilityProblem } from '../src/control/stability.js';
import { DefectWindow } from '../src/control/statistics.js';
import { loadProfiles } from '../src/hardware/load.js';
import type { ParameterSpec } from '../src/hardware/profile-schema.js';
import { formatIssues } from '../src/common/issues.js';

const profiles = await loadProfiles();
const feed = profiles.get('sim-grinder')!.parameters.feedRate;

function link(over: Record<string, unknown> = {}): LinkConfig {
  return linkSchema.parse({
    id: 'burr-feed',
    source: { class: 'edge-burr' },
    arm: 'sim-grinder',
    parameter: 'feedRate',
    target: 0.02,
    gain: 0.01,
    trueGain: { min: 0.005, max: 0.02 },
    controller: { kind: 'ewma', weight: 0.3 },
    ...over,
  });
}

/** Deterministic normal noise for the simulated processes below. */
function rng(seed: number) {
  let s = seed >>> 0;
  const u = () => ((s = (s * 1664525 + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return { u, normal: () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) };
}

t.test('stability: EWMA needs 0 < w·ξ < 2 over the whole gain range', async (t) => {
  t.ok(ewmaStable(0.3, 1));
  t.ok(ewmaStable(0.9, 2.2));
  t.notOk(ewmaStable(0.9, 2.3));
  t.notOk(ewmaStable(0.3, -1));
  t.equal(stabilityProblem({ kind: 'ewma', weight: 0.3 }, 0.01, 0.005, 0.02), undefined);
  t.match(stabilityProblem({ kind: 'ewma', weight: 0.8 }, 0.01, 0.005, 0.03), /reaches 2\.4.*lower the weight below 0\.667/);
  t.match(stabilityProblem({ kind: 'ewma', weight: 0.3 }, 0.01, -0.01, 0.02), /opposite sign/);
});

t.test('stability: the double-EWMA condition agrees with the closed loop eigenvalues', async (t) => {
  const r = rng(3);
  let agree = 0;
  for (let i = 0; i < 20000; i++) {
    const w1 = 0.02 + 0.98 * r.u();
    const w2 = 0.02 + 0.98 * r.u();
    const xi = 4 * r.u();
    // State matrix of (offset, drift) under the true/model gain ratio xi (see stability.ts).
    const m = [
      [1 - w1 * xi, -w1 * (xi - 1)],
      [-w2 * xi, 1 - w2 * xi],
    ];
    const tr = m[0][0] + m[1][1];
    const det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    const disc = tr * tr - 4 * det;
    const rho = disc >= 0 ? Math.max(Math.abs((tr + Math.sqrt(disc)) / 2), Math.abs((tr - Math.sqrt(disc)) / 2)) : Math.sqrt(det);
    if (Math.abs(rho - 1) < 1e-6) continue;
    if (dewmaStable(w1, w2, xi) === rho < 1) agree++;
    else t.fail(`w1 ${w1} w2 ${w2} xi ${xi}: condition ${dewmaStable(w1, w2, xi)}, spectral radius ${rho}`);
  }
  t.ok(agree > 19000);
  t.ok(Math.abs(dewmaMaxRatio(0.3, 0.1) - Math.min(2 / (0.4 - 0.03), 4 / (0.8 - 0.03))) < 1e-12);
});

t.test('config: an unstable link is refused with the reason', async (t) => {
  const r = controlSchema.safeParse({ links: [{ id: 'x', source: { spec: 'burr' }, arm: 'sim-grinder', parameter: 'feedRate', target: 0.02, gain: 0.01, trueGain: { min: 0.01, max: 0.05 }, controller: { kind: 'dewma', weight: 0.5, driftWeight: 0.3 } }] }, { reportInput: true });
  t.notOk(r.success);
  t.match(formatIssues(r.error!.issues), [/links\[0\]\.controller: unstable: true\/model gain ratio reaches 5/]);
  const two = controlSchema.safeParse({ links: [link(), { ...link(), id: 'other', source: { spec: 'burr' } }] });
  t.notOk(two.success);
  t.match(formatIssues(two.error!.issues), [/links\[1\]\.parameter: sim-grinder\.feedRate is already driven by link burr-feed/]);
  t.throws(() => new Controller({ links: [link({ parameter: 'wheelWear' })] }, profiles), /not writable/);
});

/** Runs a link against a linear process y = alpha + beta·u (+ drift), returning the outputs. */
function closedLoop(l: LinkConfig, p: ParameterSpec, opts: { alpha: number; beta: number; u0: number; n: number; noise?: number; drift?: number; seed?: number }) {
  const r = rng(opts.seed ?? 1);
  let s = stepLink(l, p, initialLinkState(), { kind: 'arm-value', value: opts.u0 }, 0).state;
  let u = opts.u0;
  const ys: number[] = [];
  let moves = 0;
  for (let k = 0; k < opts.n; k++) {
    const y = opts.alpha + (opts.drift ?? 0) * k + opts.beta * u + (opts.noise ?? 0) * r.normal();
    ys.push(y);
    const at = (k + 1) * 1000;
    const out = stepLink(l, p, s, { kind: 'observation', value: y, at }, at);
    s = out.state;
    if (out.move) {
      moves++;
      u = out.move.to;
    }
  }
  return { ys, u, moves, state: s };
}

t.test('EWMA brings the statistic to target from the arm value, with a wrong model gain', async (t) => {
  // True gain 1.8x the model gain: still stable with w = 0.3 (w·ξ = 0.54).
  const l = link({ gain: 0.01, trueGain: { min: 0.005, max: 0.02 } });
  const r = closedLoop(l, feed, { alpha: 0.0, beta: 0.018, u0: 2.5, n: 200 });
  t.ok(Math.abs(r.ys.at(-1)! - 0.02) < 0.002, `ends near target: ${r.ys.at(-1)}`);
  t.ok(r.u >= feed.min && r.u <= feed.max);
});

t.test('double EWMA follows a drift that leaves plain EWMA behind', async (t) => {
  // Wheel wear raises the burr rate by 0.0002 per observation; the feed has to come down to hold it.
  const process = { alpha: -0.03, beta: 0.01, u0: 5, n: 150, drift: 0.0002 };
  const ew = closedLoop(link(), feed, process);
  const dw = closedLoop(link({ controller: { kind: 'dewma', weight: 0.3, driftWeight: 0.2 } }), feed, process);
  const lastErr = (ys: number[]) => ys.slice(-50).reduce((a, y) => a + Math.abs(y - 0.02), 0) / 50;
  t.ok(lastErr(dw.ys) < lastErr(ew.ys) / 3, `dEWMA error ${lastErr(dw.ys)} vs EWMA ${lastErr(ew.ys)}`);
});

t.test('bumpless start, deadband, move records with their reason', async (t) => {
  const l = link({ deadband: 0.005 });
  const now = 10_000;
  let out = stepLink(l, feed, initialLinkState(), { kind: 'observation', value: 0.1, at: now }, now);
  t.notOk(out.move, 'no move before the value was read from the arm');
  let s = stepLink(l, feed, out.state, { kind: 'arm-value', value: 2.5 }, now).state;
  t.equal(s.frozen, null);
  out = stepLink(l, feed, s, { kind: 'observation', value: 0.022, at: now + 1 }, now + 1);
  t.notOk(out.move, 'the first observation only initialises the estimate');
  t.match(out.events, [{ kind: 'initialised' }]);
  out = stepLink(l, feed, out.state, { kind: 'observation', value: 0.018, at: now + 2 }, now + 2);
  t.notOk(out.move, 'inside the deadband');
  out = stepLink(l, feed, out.state, { kind: 'observation', value: 0.06, at: now + 3 }, now + 3);
  t.ok(out.move);
  t.match(out.move!, { link: 'burr-feed', arm: 'sim-grinder', parameter: 'feedRate', source: 'class edge-burr', statistic: 'rate', from: 2.5, to: 2.25, limitedBy: 'step', observed: 0.06, target: 0.02 });
  t.match(out.move!.reason, /class edge-burr: rate 0\.06 .*target 0\.02.* feedRate 2\.5 mm\/s -> 2\.25 mm\/s \(limited by step\)/);
});

t.test('outliers are held back until confirmed, stale data and alarms freeze, manual mode is never overridden', async (t) => {
  const l = link({ outlier: { maxResidual: 0.05, confirmAfter: 2 }, staleAfterMs: 60_000 });
  let s: LinkState = stepLink(l, feed, initialLinkState(), { kind: 'arm-value', value: 2.5 }, 0).state;
  let now = 1000;
  const obs = (value: number) => {
    now += 1000;
    const o = stepLink(l, feed, s, { kind: 'observation', value, at: now }, now);
    s = o.state;
    return o;
  };
  obs(0.02);
  obs(0.02);
  let o = obs(0.5);
  t.notOk(o.move);
  t.match(o.events, [{ kind: 'rejected', reason: /outlier/ }]);
  o = obs(0.5);
  t.ok(o.move, 'a second one on the same side is real');
  t.match(o.events, []);

  o = stepLink(l, feed, s, { kind: 'tick' }, now + 61_000);
  s = o.state;
  t.match(o.events, [{ kind: 'frozen', reason: /stale/ }]);
  now += 61_000;
  o = obs(0.5);
  t.notOk(o.move, 'after a gap the loop starts over from fresh observations');
  t.match(o.events, [{ kind: 'resumed' }, { kind: 'initialised' }]);

  s = stepLink(l, feed, s, { kind: 'alarm', reason: 'arm faulted' }, now).state;
  t.notOk(obs(0.5).move);
  t.notOk(obs(0.5).move);
  s = stepLink(l, feed, s, { kind: 'alarm', reason: null }, now).state;
  t.equal(s.frozen, 'waiting for the value from the arm');
  s = stepLink(l, feed, s, { kind: 'mode', mode: 'manual' }, now).state;
  s = stepLink(l, feed, s, { kind: 'arm-value', value: 4 }, now).state;
  for (let i = 0; i < 20; i++) t.notOk(obs(0.5).move, 'manual');
  s = stepLink(l, feed, s, { kind: 'mode', mode: 'auto' }, now).state;
  t.notOk(obs(0.5).move, 'waits for the arm value after manual mode');
  s = stepLink(l, feed, s, { kind: 'arm-value', value: 4 }, now).state;
  obs(0.5);
  o = obs(0.5);
  t.equal(o.move?.from, 4, 'starts from the value the operator left');
});

t.test('controller routes observations, arm values and alarms to links', async (t) => {
  const c = new Controller({ links: [link(), link({ id: 'hot', source: { class: 'hotspot' }, parameter: 'chuckTemperature', gain: 0.01, trueGain: { min: 0.005, max: 0.02 } })] }, profiles);
  c.armValue('sim-grinder', 'feedRate', 2.5, 0);
  c.armValue('sim-grinder', 'chuckTemperature', 23, 0);
  c.observe({ source: { class: 'edge-burr' }, statistic: 'rate', value: 0.08, at: 1 }, 1);
  const out = c.observe({ source: { class: 'edge-burr' }, statistic: 'rate', value: 0.08, at: 2 }, 2);
  t.equal(out.moves.length, 1);
  t.equal(out.moves[0].parameter, 'feedRate');
  const a = c.alarm('sim-grinder', 'link lost', 3);
  t.equal(a.events.filter((e) => e.kind === 'frozen').length, 2);
});

t.test('defect window: rates per spec and class over inspected wafers only', async (t) => {
  const w = new DefectWindow(4, ['burr'], ['edge-burr']);
  const rec = (verdict: 'pass' | 'fail' | 'not-inspected', n: number) => ({ wafer: 'w', lot: null, at: '', verdict, modalities: { visible: 'ok', infrared: 'ok', xray: 'ok' }, findings: Array.from({ length: n }, () => ({ spec: 'burr', class: 'edge-burr', xMm: 0, yMm: 0, sizeMm: 2, score: 0.9 })), reason: null, latencyMs: 1, model: 'm' }) as never;
  t.same(w.add(rec('fail', 2), 1), []);
  w.add(rec('not-inspected', 0), 2);
  w.add(rec('pass', 0), 3);
  w.add(rec('pass', 0), 4);
  const o = w.add(rec('pass', 0), 5);
  t.match(o, [{ source: { spec: 'burr' }, statistic: 'rate', value: 0.25 }, { statistic: 'count-per-wafer', value: 0.5 }, { statistic: 'mean-size-mm', value: 2 }, { source: { class: 'edge-burr' }, value: 0.25 }]);
});

t.test('property: 1e5 random observation sequences never command outside min/max or beyond maxStep', async (t) => {
  const r = rng(12345);
  const params = [...profiles.values()].flatMap((pr) => Object.entries(pr.parameters).filter(([, p]) => p.writable).map(([name, p]) => ({ arm: pr.id, name, p })));
  let moves = 0;
  let violations = 0;
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r.u() * xs.length)];
  for (let seq = 0; seq < 100_000; seq++) {
    const { arm, name, p } = pick(params);
    const span = p.max - p.min;
    const kind = r.u() < 0.5 ? 'ewma' : 'dewma';
    const gain = (r.u() < 0.5 ? -1 : 1) * 10 ** (-3 + 3 * r.u());
    const l: LinkConfig = {
      id: 'p',
      source: { class: 'scratch' },
      statistic: 'rate',
      arm,
      parameter: name,
      target: r.u() * 0.1,
      gain,
      trueGain: { min: gain, max: gain },
      controller: kind === 'ewma' ? { kind, weight: 0.05 + 0.9 * r.u() } : { kind, weight: 0.05 + 0.9 * r.u(), driftWeight: 0.05 + 0.9 * r.u() },
      deadband: r.u() < 0.5 ? 0 : r.u() * 0.01,
      outlier: r.u() < 0.5 ? undefined : { maxResidual: r.u() * 0.2 + 0.001, confirmAfter: 1 + Math.floor(r.u() * 3) },
      staleAfterMs: 1000 + Math.floor(r.u() * 60_000),
    };
    let s = initialLinkState();
    let armValue = p.min + r.u() * span;
    let now = 1_000_000;
    const steps = 5 + Math.floor(r.u() * 25);
    for (let k = 0; k < steps; k++) {
      now += Math.floor(r.u() * 5000);
      const x = r.u();
      let input: LinkInput;
      if (x < 0.6) {
        const v = r.u();
        const value = v < 0.1 ? NaN : v < 0.15 ? Infinity : v < 0.3 ? (r.u() - 0.5) * 1e6 : r.u() * 0.2;
        const w = r.u();
        const at = w < 0.1 ? NaN : w < 0.25 ? now - Math.floor(r.u() * 200_000) : w < 0.3 ? now + 100_000 : now - Math.floor(r.u() * 100);
        input = { kind: 'observation', value, at };
      } else if (x < 0.75) {
        // The arm may report anything, even outside the limits (set by hand at the pendant).
        const v = r.u();
        armValue = v < 0.1 ? p.max + span * r.u() : v < 0.15 ? NaN : armValue;
        input = { kind: 'arm-value', value: armValue };
      } else if (x < 0.85) input = { kind: 'tick' };
      else if (x < 0.93) input = { kind: 'alarm', reason: r.u() < 0.5 ? 'x' : null };
      else input = { kind: 'mode', mode: r.u() < 0.5 ? 'manual' : 'auto' };
      const from = s.u;
      const out = stepLink(l, p, s, input, now);
      s = out.state;
      if (out.move) {
        moves++;
        const m = out.move;
        if (!(m.to >= p.min && m.to <= p.max) || from === undefined || m.from !== from || !(Math.abs(m.to - from) <= p.maxStep * (1 + 1e-9)) || s.manual || s.alarm !== null) violations++;
        armValue = m.to;
      }
    }
  }
  t.equal(violations, 0);
  t.ok(moves > 10_000, `${moves} moves checked`);
});

/**
 * A drifting process (wheel wear, chuck heater ageing, handler bearing wear) run without a
 * controller, with the run-to-run controller, and with the controller driving simulated arms through
 * the Modbus actuator over TCP loopback. Prints the defect rate per class and the moves; the last
 * line is one JSON object.
 *
 *   npm run sim:closed-loop [-- --wafers 20000 --seed 1 --window 250 --report 2000 --recall 0.9 --false-alarm 0.002]
 */
import { parseArgs } from 'node:util';
import { DEFECT_CLASSES, type DefectClass } from '../src/common/defects.js';
import { DEFAULT_LINKS, runClosedLoop, type ClosedLoopResult } from '../src/sim/closed-loop.js';

const { values: a } = parseArgs({
  options: {
    wafers: { type: 'string', default: '20000' },
    seed: { type: 'string', default: '1' },
    window: { type: 'string', default: '250' },
    report: { type: 'string', default: '2000' },
    recall: { type: 'string', default: '0.9' },
    'false-alarm': { type: 'string', default: '0.002' },
  },
});
const wafers = Number(a.wafers);
const seed = Number(a.seed);
const windowWafers = Number(a.window);
const reportWafers = Number(a.report);
const detection = { recall: Number(a.recall), falseAlarm: Number(a['false-alarm']) };
for (const [k, v] of Object.entries({ wafers, seed, windowWafers, reportWafers, ...detection })) if (!Number.isFinite(v)) throw new Error(`--${k}: not a number`);

const common = { wafers, seed, windowWafers, reportWafers, detection };
const open = await runClosedLoop({ ...common, mode: 'open' });
const direct = await runClosedLoop({ ...common, mode: 'direct' });
const modbus = await runClosedLoop({ ...common, mode: 'modbus' });

const pct = (x: number) => (100 * x).toFixed(2);
const pad = (s: string | number, n: number) => String(s).padStart(n);
const tail = Math.min(wafers, 4 * reportWafers);
/** Rate over the last `tail` wafers, from the reported windows that cover them. */
const lastRate = (r: ClosedLoopResult, c: DefectClass) => {
  const ws = r.windows.filter((w) => w.from >= wafers - tail);
  const n = ws.reduce((s, w) => s + (w.to - w.from), 0);
  return ws.reduce((s, w) => s + w.rates[c] * (w.to - w.from), 0) / Math.max(1, n);
};
const driven = [...new Set(DEFAULT_LINKS.map((l) => l.source.class as DefectClass))];

console.log(`closed loop: ${wafers} wafers, seed ${seed}, one observation per ${windowWafers} wafers, inspection recall ${detection.recall}, false alarms ${detection.falseAlarm}`);
console.log('');
console.log(`defect rate per class, % of wafers (true presence, not what inspection reported)`);
console.log(`| class | without controller | with controller | with controller, via Modbus | without, last ${tail} | with, last ${tail} |`);
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const c of DEFECT_CLASSES) {
  console.log(`| ${c}${driven.includes(c) ? ' *' : ''} | ${pct(open.rates[c])} | ${pct(direct.rates[c])} | ${pct(modbus.rates[c])} | ${pct(lastRate(open, c))} | ${pct(lastRate(direct, c))} |`);
}
const total = (r: ClosedLoopResult) => Object.values(r.movesByLink).reduce((s, n) => s + n, 0);
console.log('');
console.log('moves per link (controller, via Modbus)');
console.log('| link | parameter | moves | via Modbus | limited by step | by min/max | start -> end |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | --- |');
for (const l of DEFAULT_LINKS) {
  const ms = direct.moves.filter((m) => m.link === l.id);
  const step = ms.filter((m) => m.limitedBy === 'step').length;
  const clamp = ms.filter((m) => m.limitedBy === 'min' || m.limitedBy === 'max').length;
  const first = ms[0]?.from;
  const last = ms.at(-1)?.to;
  const fmt = (x: number | undefined) => (x === undefined ? '-' : String(Number(x.toPrecision(4))));
  console.log(`| ${l.id} | ${l.arm}.${l.parameter} | ${ms.length} | ${modbus.movesByLink[l.id]} | ${step} | ${clamp} | ${fmt(first)} -> ${fmt(last)} ${ms[0]?.unit ?? ''} |`);
}
console.log(`| all | | ${total(direct)} | ${total(modbus)} | | | |`);
console.log('');
console.log(`rate over time, % of wafers, windows of ${reportWafers} wafers (without / with controller)`);
console.log(`| wafers | ${driven.join(' | ')} |`);
console.log(`| --- |${driven.map(() => ' ---: |').join('')}`);
open.windows.forEach((w, i) => {
  const d = direct.windows[i];
  console.log(`| ${w.from}-${w.to} | ${driven.map((c) => `${pad(pct(w.rates[c]), 5)} / ${pad(pct(d.rates[c]), 5)}`).join(' | ')} |`);
});
const identical = JSON.stringify(direct.windows) === JSON.stringify(modbus.windows);
console.log('');
console.log(`via Modbus: ${modbus.failedMoves} failed moves, ${modbus.alarms.length} alarms, same defects as the direct run: ${identical ? 'yes' : 'no'}; ${(open.elapsedMs / 1000).toFixed(2)} s without, ${(direct.elapsedMs / 1000).toFixed(2)} s with, ${(modbus.elapsedMs / 1000).toFixed(2)} s via Modbus`);

const rates = (r: ClosedLoopResult) => Object.fromEntries(DEFECT_CLASSES.map((c) => [c, Number(r.rates[c].toFixed(5))]));
console.log(
  JSON.stringify({
    bench: 'closed-loop',
    wafers,
    seed,
    windowWafers,
    detection,
    without: { rates: rates(open) },
    with: { rates: rates(direct), moves: direct.movesByLink, totalMoves: total(direct) },
    modbus: { rates: rates(modbus), moves: modbus.movesByLink, totalMoves: total(modbus), failedMoves: modbus.failedMoves, alarms: modbus.alarms.length, sameAsDirect: identical, elapsedMs: Math.round(modbus.elapsedMs) },
  }),
);

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { loadProfiles } from '../src/hardware/load.js';
import { Service } from '../src/service/service.js';
import { SimArm } from '../src/sim/arms/sim-arm.js';
import { freePort, quietLog, waitFor } from './fixtures/telemetry/broker.js';
import { modelMissing, writeServiceConfig } from './fixtures/service/setup.js';
import { REPO_ROOT, tempDir } from './helpers.js';

/** Arms in the service: one that answers, one that does not (degraded, inspection goes on), and the commands that reach them. */

const missing = modelMissing();
if (missing) t.fail(`service tests need a model: ${missing}`);

t.test('a reachable arm and a dead one: start-up declares the dead one degraded and inspects on; commands act on the live one', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-svc-arms-');
  const profiles = await loadProfiles();
  const arm = new SimArm(profiles.get('sim-grinder')!);
  const port = await arm.listen(0);
  t.teardown(() => arm.stop());
  const dead = await freePort();
  const text = (id: string) => readFileSync(join(REPO_ROOT, `hardware/${id}.yaml`), 'utf8');
  writeFileSync(join(dir, 'grinder.yaml'), text('sim-grinder').replace(/port: \d+/, `port: ${port}`));
  writeFileSync(join(dir, 'handler.yaml'), text('sim-handler').replace(/port: \d+/, `port: ${dead}`).replace(/timeoutMs: \d+/, 'timeoutMs: 200'));
  const file = writeServiceConfig(dir, {
    rateHz: 20,
    extra: [
      'control:',
      '  arms: [./grinder.yaml, ./handler.yaml]',
      '  connectTimeoutMs: 1500',
      '  windowWafers: 5',
      '  links:',
      // A deadband no rate can leave: the loop runs but makes no move, so the test alone moves the arm.
      '    - { id: burr-feed, source: { spec: burr }, arm: sim-grinder, parameter: feedRate, target: 0.01, gain: 0.018, trueGain: { min: 0.005, max: 0.03 }, deadband: 10 }',
    ].join('\n'),
  });
  const service = await Service.start({ config: await loadConfig(file), log: quietLog });
  t.teardown(() => service.stop('test teardown'));

  const h0 = service.healthReport();
  t.same(h0.arms, { 'sim-grinder': 'healthy', 'sim-handler': 'degraded' }, 'dead arm declared degraded at start');
  await waitFor('wafers through', () => service.progress.wafersOut >= 10, 60_000);
  t.ok(service.healthReport().ok, 'inspection goes on with a degraded arm');
  const metrics = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
  t.match(metrics, /wafer_inspect_arm_state\{arm="sim-handler",state="degraded"\} 1/);
  t.match(metrics, /wafer_inspect_alarms_total\{code="arm-degraded"\} 1/);
  t.match(metrics, /wafer_inspect_wafers_out_total \d+/);

  const h = service.handler!;
  await t.rejects(Promise.resolve().then(() => h.setSetpoint({ arm: 'sim-grinder', parameter: 'feedRate', value: 2.6 })), /in auto mode/, 'a linked parameter in auto is not set by hand');
  const manual = h.setMode({ link: 'burr-feed' }, 'manual');
  t.equal(manual.links['burr-feed'].mode, 'manual');
  const from = arm.value('feedRate');
  const to = Math.round((from + 0.25) * 100) / 100;
  const st = await h.setSetpoint({ arm: 'sim-grinder', parameter: 'feedRate', value: to });
  t.equal(st.arms['sim-grinder'].parameters.feedRate.value, to);
  t.ok(Math.abs(arm.value('feedRate') - to) < 1e-6, 'the arm holds the operator setpoint');
  await t.rejects(Promise.resolve().then(() => h.setSetpoint({ arm: 'sim-grinder', parameter: 'feedRate', value: to + 1 })), /exceeds 0.25/, 'a step beyond maxStep is refused');
  await t.rejects(Promise.resolve().then(() => h.setSetpoint({ arm: 'sim-handler', parameter: 'transferSpeed', value: 100 })), /sim-handler is (faulted|connecting)/, 'a degraded arm takes no setpoint');

  await t.rejects(h.changeRecipe({ yaml: 'recipe: broken\nspecs:\n  - { id: x, text: purple unicorns, kind: unicorn }\n' }), /recipe kept as it was/, 'a recipe with an unreadable spec is refused');
  const kept = await h.changeRecipe({ yaml: 'recipe: burr-only\nspecs:\n  - { id: burr, text: edge burr longer than 3 mm, kind: edge-burr }\n' });
  t.equal(kept.name, 'burr-only');
  t.same(kept.specs.map((s) => s.size), ['> 3 mm']);
  t.same(Object.keys(kept.specs[0].thresholdWithout ?? {}), ['infrared', 'xray'], 'the thresholds a wafer missing a modality the spec does not need is judged with');
  const before = service.progress.wafersOut;
  await waitFor('wafers under the new recipe', () => service.progress.wafersOut >= before + 5, 30_000);

  t.equal(await service.stop('test'), 0);
});

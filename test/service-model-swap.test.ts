import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import type { ResultRecord } from '../src/inspection/result.js';
import type { CommandReply } from '../src/telemetry/commands/index.js';
import type { AlarmRecord, ModelEvent } from '../src/telemetry/records.js';
import type { ModelState, RecipeState } from '../src/telemetry/state.js';
import { topicsFor } from '../src/telemetry/topics.js';
import { Service } from '../src/service/service.js';
import { quietLog, SHARED_URL, stationId, Subscriber, waitFor } from './fixtures/telemetry/broker.js';
import { copyModel, damage, manifestId, thresholdsWithCopy } from './fixtures/service/models.js';
import { modelMissing, THRESHOLDS, writeServiceConfig } from './fixtures/service/setup.js';
import { CLI, tempDir } from './helpers.js';

const missing = modelMissing();
if (missing) t.fail(`service tests need a model: ${missing}`);

t.test('model swaps while wafers flow: bad models refused with the reason and the old one scoring on; a good one takes over with no wafer lost or scored twice', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-svc-swap-');
  const id = manifestId();
  const models = join(dir, 'models');
  copyModel(join(models, 'renamed'), (m) => (m.id = `${id}-b`));
  copyModel(join(models, 'uncalibrated'), (m) => (m.id = `${id}-c`));
  const damaged = copyModel(join(models, 'damaged'));
  damage(join(damaged, 'image-fp32.onnx'));
  copyModel(join(models, 'bad-shape'), (m) => (m.files.imageFloat.inputs!.image[1] = 7));
  const thresholds = thresholdsWithCopy(join(dir, 'thresholds.yaml'), `${id}-b`);

  // the station names the calibration, so a prefix and client id of the test's own keep it apart on the shared broker
  const prefix = stationId('wi-swap');
  const topics = topicsFor(prefix, 'reference');
  const file = writeServiceConfig(dir, {
    rateHz: 10,
    extra: ['telemetry:', '  enabled: true', `  url: ${SHARED_URL}`, `  prefix: ${prefix}`, `  clientId: ${prefix}`, '  reconnectMs: 200', '  commands: { modelDir: ./models }'].join('\n'),
  });
  writeFileSync(file, readFileSync(file, 'utf8').replace(`thresholds: ${JSON.stringify(THRESHOLDS)}`, `thresholds: ${JSON.stringify(thresholds)}`));
  const sub = await Subscriber.open(t, SHARED_URL, [`${topics.base}/#`]);
  const service = await Service.start({ config: await loadConfig(file), log: quietLog });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await service.stop('test teardown');
    for (const s of ['available', 'state/run', 'state/recipe', 'state/model']) await sub.client.publishAsync(`${topics.base}/${s}`, '', { retain: true, qos: 1 });
  });

  const results = () => sub.json<ResultRecord>(topics.channel('results'));
  const replies = () => sub.json<CommandReply>(topics.reply('model'));
  const models0 = () => sub.json<ModelState>(topics.state('model'));
  await waitFor('results with the first model', () => results().length >= 10, 60_000);
  const first = results()[0].model;
  t.match(first, new RegExp(`^${id}@`), 'results name the model in use');
  t.equal(models0().at(-1)?.id, first, 'state/model names it too');

  const send = async (cmdId: string, payload: Record<string, unknown>): Promise<CommandReply> => {
    await sub.client.publishAsync(topics.command('model'), JSON.stringify({ id: cmdId, ...payload }), { qos: 1 });
    await waitFor(`reply to ${cmdId}`, () => replies().some((r) => r.id === cmdId), 120_000);
    return replies().find((r) => r.id === cmdId)!;
  };
  const REFUSED: Array<[string, string, RegExp]> = [
    ['damaged', 'damaged', /image-fp32.onnx: sha256 \w+… does not match the manifest's/],
    ['bad-shape', 'bad-shape', /input image has shape \[.*8, 256, 256\], the manifest says \[.*7, 256, 256\]/],
    ['uncalibrated', 'uncalibrated', new RegExp(`has no thresholds for model ${id}-c@`)],
    ['missing', 'no-such-model', /model.json: not found/],
  ];
  for (const [cmdId, path, why] of REFUSED) {
    const r = await send(cmdId, { path });
    t.match(r, { ok: false, error: /^model kept as it was/ }, `${cmdId}: refused`);
    t.match(r.error, why, `${cmdId}: the reply names why (${r.error})`);
  }
  const before = results().length;
  await waitFor('wafers still flowing after the refusals', () => results().length >= before + 5, 60_000);
  t.same([...new Set(results().map((r) => r.model))], [first], 'every wafer so far scored by the first model');
  t.same([...new Set(models0().map((m) => m.id))], [first], 'state/model not changed by a refusal');
  await waitFor('refusal events and alarms', () => sub.json<ModelEvent>(topics.channel('events')).length >= REFUSED.length);
  t.same(sub.json<ModelEvent>(topics.channel('events')).map((e) => [e.kind, e.model]), REFUSED.map(() => ['model-refused', first]), 'each refusal is an event naming the model that runs on');
  t.match(sub.json<AlarmRecord>(topics.channel('alarms')).at(-1), { code: 'model-refused', active: true, severity: 'warning', message: /no-such-model/ });

  const ok = await send('swap', { path: 'renamed' });
  t.match(ok, { ok: true, state: 'model' }, `applied (${ok.error ?? ''})`);
  const second = `${id}-b@${first.split('@')[1]}`;
  await waitFor('state/model', () => models0().at(-1)?.id === second);
  await waitFor('wafers with the new model', () => results().filter((r) => r.model === second).length >= 5, 60_000);
  t.match(sub.json<ModelEvent>(topics.channel('events')).at(-1), { kind: 'model-changed', from: first, model: second, variant: 'fp32' });
  t.match(sub.json<AlarmRecord>(topics.channel('alarms')).at(-1), { code: 'model-refused', active: false }, 'the refusal alarm is cleared');
  t.ok(sub.json<RecipeState>(topics.state('recipe')).length >= 2, 'the recipe as the new model reads it is published');

  // The CLI sends the same command and waits for the answer.
  // not spawnSync: the service runs in this process and must go on while the CLI waits for it
  const cli = (args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, 'model', 'use', ...args, '--url', SHARED_URL, '--prefix', prefix, '--station', 'reference', '--timeout', '120'], (e, stdout, stderr) =>
        resolve({ status: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr }),
      ),
    );
  const refused = await cli(['damaged']);
  t.equal(refused.status, 1, 'model use: exit 1 when refused');
  t.match(refused.stderr, /refused: model kept as it was \(.*\): .*sha256/);
  const third = await cli(['renamed', '--variant', 'int8']);
  t.equal(third.status, 0, `model use: exit 0 when applied (${third.stderr})`);
  const thirdId = models0().at(-1)!.id;
  t.not(thirdId, second, 'int8 is another image file, another id');
  t.match(third.stdout, new RegExp(`now inspecting with ${thirdId} \\(int8\\)`));
  await waitFor('wafers with the int8 model', () => results().filter((r) => r.model === thirdId).length >= 5, 60_000);

  stopped = true;
  t.equal(await service.stop('test'), 0, 'stops cleanly, replaced models closed');
  const n = service.progress.wafersOut;
  t.equal(n, service.progress.wafersIn, 'every wafer taken was finished');
  await waitFor('every result delivered', () => new Set(results().map((r) => r.wafer)).size >= n, 20_000);
  const all = results();
  const byWafer = new Map<string, ResultRecord[]>();
  for (const r of all) byWafer.set(r.wafer, [...(byWafer.get(r.wafer) ?? []), r]);
  t.equal(byWafer.size, n, `one result per wafer (${n})`);
  // at-least-once delivery may repeat a record; it must be the same record, not a second scoring
  t.ok([...byWafer.values()].every((rs) => rs.every((r) => JSON.stringify(r) === JSON.stringify(rs[0]))), 'no wafer was scored twice');
  const order = [...byWafer.values()].map((rs) => rs[0].model);
  const runs = order.filter((m, i) => i === 0 || m !== order[i - 1]);
  t.same(runs, [first, second, thirdId], 'in capture order the models follow the swaps: never back to an older one');
  t.equal(all.filter((r) => /model failed/.test(r.reason ?? '')).length, 0, 'no wafer failed because its model was closed under it');
});

import { join } from 'node:path';
import t from 'tap';
import { loadProfiles } from '../src/hardware/load.js';
import { runCommandPayload, type CommandContext, type CommandReply } from '../src/telemetry/commands/index.js';
import { TelemetryPublisher } from '../src/telemetry/publisher.js';
import { topicsFor } from '../src/telemetry/topics.js';
import { quietLog, SHARED_URL, stationId, Subscriber, telemetryConfig, waitFor } from './fixtures/telemetry/broker.js';
import { FakeService } from './fixtures/telemetry/service.js';
import { tempDir } from './helpers.js';

const links = new Map([['burr-feed', { arm: 'sim-grinder', parameter: 'feedRate' }]]);

/** Each bad command, and words its refusal must contain. */
const BAD: Array<[string, string, string, RegExp]> = [
  ['not JSON', 'setpoint', '{"arm": "sim-grinder", value: 3', /not JSON/],
  ['unknown parameter', 'setpoint', '{"arm":"sim-grinder","parameter":"laserPower","value":3}', /no parameter "laserPower".*has feedRate/],
  ['out of range', 'setpoint', '{"arm":"sim-grinder","parameter":"feedRate","value":9}', /expected <= 6 mm\/s \(sim-grinder.feedRate max\), found 9/],
  ['below range', 'setpoint', '{"arm":"sim-grinder","parameter":"chuckTemperature","value":-40}', /expected >= 18 degC/],
  ['wrong type', 'setpoint', '{"arm":"sim-grinder","parameter":"feedRate","value":"3"}', /value: expected number, found "3"/],
  ['not writable', 'setpoint', '{"arm":"sim-grinder","parameter":"wheelWear","value":3}', /not writable/],
  ['unknown arm', 'setpoint', '{"arm":"laser-7","parameter":"feedRate","value":3}', /no hardware profile "laser-7"/],
  ['unknown key', 'run', '{"action":"pause","force":true}', /unknown key "force"/],
  ['unknown action', 'run', '{"action":"stop"}', /action: expected one of "pause", "resume", found "stop"/],
  ['a list, not an object', 'run', '["pause"]', /expected object/],
  ['unknown command', 'reboot', '{}', /unknown command "reboot"; expected one of run, recipe, mode, setpoint, model/],
  ['mode for both arm and link', 'mode', '{"arm":"sim-grinder","link":"burr-feed","mode":"manual"}', /exactly one of arm or link/],
  ['mode for an unknown link', 'mode', '{"link":"chip-feed","mode":"manual"}', /no control link "chip-feed"/],
  ['recipe by path without a recipe folder', 'recipe', '{"path":"/etc/passwd"}', /recipes by path are off/],
  ['recipe with neither yaml nor path', 'recipe', '{}', /exactly one of yaml or path/],
  ['refused by the service', 'setpoint', '{"arm":"sim-grinder","parameter":"feedRate","value":3}', /driven by link burr-feed in auto mode/],
  ['recipe the service cannot read', 'recipe', '{"yaml":"name: nothing here"}', /expected a list of specs/],
  ['model without a model folder configured', 'model', '{"path":"wafer-mm-2"}', /model changes by command are off \(telemetry.commands.modelDir is not set\)/],
  ['model with an unknown variant', 'model', '{"path":"wafer-mm-2","variant":"fp16"}', /variant: expected one of "int8", "fp32", found "fp16"/],
  ['model without a path', 'model', '{"variant":"int8"}', /path: missing, expected string/],
];

t.test('bad commands are refused with the reason, and nothing changes', async (t) => {
  const profiles = await loadProfiles();
  const service = new FakeService(profiles, links);
  const before = structuredClone({ run: service.run, recipe: service.recipe, control: service.control });
  const ctx: CommandContext = { handler: service, profiles, links, maxRecipeBytes: 1024 };
  for (const [what, name, payload, reason] of BAD) {
    const out = await runCommandPayload(name, payload, ctx);
    t.equal(out.reply.ok, false, what);
    t.match(out.reply.error, reason, `${what}: ${out.reply.error}`);
    t.equal(out.state, undefined, `${what}: no state change`);
  }
  t.same({ run: service.run, recipe: service.recipe, control: service.control }, before, 'the service state is as it was');
  t.same(service.calls, ['setpoint sim-grinder.feedRate=3', 'recipe'], 'only valid commands reached the service');

  const retained = await runCommandPayload('run', '{"action":"pause"}', ctx, { retained: true });
  t.match(retained.reply, { ok: false, error: /retained commands are not taken/ });
  const big = await runCommandPayload('recipe', JSON.stringify({ yaml: 'specs:\n' + 'x'.repeat(2000) }), ctx);
  t.match(big.reply.error, /larger than 1024 bytes/);
  const id = await runCommandPayload('setpoint', '{"id":"op-7","arm":"sim-grinder","parameter":"feedRate","value":"fast"}', ctx);
  t.equal(id.reply.id, 'op-7', 'the request id is echoed even when refused');
});

t.test('recipes by path only from inside the recipe folder', async (t) => {
  const profiles = await loadProfiles();
  const service = new FakeService(profiles, links);
  const ctx: CommandContext = { handler: service, profiles, links, recipeDir: '/srv/recipes', maxRecipeBytes: 1024 };
  for (const p of ['../etc/passwd', '/etc/passwd', '.', 'a/../../b.yaml']) {
    const out = await runCommandPayload('recipe', JSON.stringify({ path: p }), ctx);
    t.match(out.reply.error, /expected a file inside \/srv\/recipes/, `${p} refused`);
  }
  t.same(service.calls, []);
});

t.test('models by path only from inside the model folder; the service refuses one it cannot load, with the reason', async (t) => {
  const profiles = await loadProfiles();
  const service = new FakeService(profiles, links);
  const ctx: CommandContext = { handler: service, profiles, links, modelDir: '/srv/models', maxRecipeBytes: 1024 };
  for (const p of ['../wafer-mm-2', '/opt/wafer-mm-2', '.', 'a/../../b']) {
    const out = await runCommandPayload('model', JSON.stringify({ path: p }), ctx);
    t.match(out.reply.error, /expected a model folder inside \/srv\/models/, `${p} refused`);
  }
  t.same(service.calls, [], 'none reached the service');
  const missing = await runCommandPayload('model', '{"id":7,"path":"wafer-mm-9"}', ctx);
  t.match(missing.reply, { id: 7, ok: false, error: /model kept as it was \(wafer-mm-1@8adf021f943e\): model \/srv\/models\/wafer-mm-9\/model.json: not found/ });
  t.equal(missing.state, undefined, 'refused: no state change');
  const ok = await runCommandPayload('model', '{"path":"wafer-mm-2","variant":"int8"}', ctx);
  t.match(ok.reply, { command: 'model', ok: true, state: 'model' });
  t.same(ok.state, { name: 'model', value: { id: 'wafer-mm-2@0123456789ab', variant: 'int8' } }, 'applied: the new model state is echoed');
  t.same(service.calls, ['model /srv/models/wafer-mm-9', 'model /srv/models/wafer-mm-2 int8'], 'relative paths are taken inside the model folder');
});

t.test('over MQTT: refusals on the reply topic, no state topic touched', async (t) => {
  const station = stationId('commands');
  const topics = topicsFor('wafer-inspect', station);
  const profiles = await loadProfiles();
  const service = new FakeService(profiles, links);
  const pub = new TelemetryPublisher({ config: telemetryConfig({ url: SHARED_URL }), station, log: quietLog, outboxPath: join(tempDir(t, 'wi-tel-'), 'o.sqlite'), handler: service, profiles, links });
  t.teardown(() => pub.close({ drainMs: 0 }));
  pub.setState('control', service.control);
  const sub = await Subscriber.open(t, SHARED_URL, [`${topics.base}/reply/+`, `${topics.base}/state/+`]);
  await waitFor('retained control state', () => sub.on(topics.state('control')).length === 1);

  const wire = BAD.filter(([what]) => what !== 'refused by the service' && what !== 'recipe the service cannot read');
  for (const [, name, payload] of wire) await sub.client.publishAsync(topics.command(name), payload, { qos: 1 });
  // MQTT 5 request/response: the reply also goes where the sender asked.
  await sub.client.publishAsync(topics.command('setpoint'), '{"arm":"sim-grinder","parameter":"feedRate","value":99}', { qos: 1, properties: { responseTopic: `${topics.base}/reply/mine`, correlationData: Buffer.from('abc') } });
  await waitFor('every refusal', () => sub.seen.filter((m) => m.topic.includes('/reply/')).length === wire.length + 2);

  const replies = sub.seen.filter((m) => m.topic.includes('/reply/') && !m.topic.endsWith('/mine')).map((m) => ({ topic: m.topic, r: JSON.parse(m.payload) as CommandReply }));
  wire.forEach(([what, name, , reason], k) => {
    t.equal(replies[k].topic, topics.reply(name), `${what}: on reply/${name}`);
    t.match(replies[k].r, { command: name, ok: false, error: reason }, what);
  });
  t.match(JSON.parse(sub.on(`${topics.base}/reply/mine`)[0].payload), { ok: false, error: /expected <= 6/ });
  t.equal(sub.on(topics.state('control')).length, 1, 'no state republished');
  t.same(service.calls, [], 'the service saw none of them');
  await pub.close();
  await sub.client.publishAsync(topics.available, '', { retain: true, qos: 1 });
  await sub.client.publishAsync(topics.state('control'), '', { retain: true, qos: 1 });
});

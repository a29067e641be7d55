import t from 'tap';
import { formatIssues } from '../src/common/issues.js';
import { clientIdFor, outboxPathFor, telemetrySchema } from '../src/telemetry/config.js';
import { connectOptions, TelemetryConfigError } from '../src/telemetry/connect-options.js';
import { topicsFor } from '../src/telemetry/topics.js';

const problems = (input: unknown) => {
  const r = telemetrySchema.safeParse(input, { reportInput: true });
  return r.success ? [] : formatIssues(r.error.issues);
};

t.test('defaults: off, local broker, 5 s stats, a bounded outbox', async (t) => {
  const c = telemetrySchema.parse({});
  t.match(c, { enabled: false, url: 'mqtt://127.0.0.1:1883', prefix: 'wafer-inspect', protocolVersion: 5, statsIntervalMs: 5000, outbox: { maxBytes: 256 * 1024 * 1024, highWater: 0.8, synchronous: 'full' }, commands: { enabled: true } });
  t.equal(c.clientId, undefined);
});

t.test('bad settings are refused with the key and the reason', async (t) => {
  t.match(problems({ url: 'http://broker' }), [/^url: .*broker url/]);
  t.match(problems({ prefix: 'plant/#' }), [/^prefix: .*no wildcards/]);
  t.match(problems({ prefix: '/plant' }), [/^prefix: .*leading/]);
  t.match(problems({ username: 'wi', password: 'x', passwordEnv: 'MQTT_PASSWORD' }), [/^passwordEnv: give password or passwordEnv, not both/]);
  t.match(problems({ passwordEnv: 'MQTT_PASSWORD' }), [/^username: missing/]);
  t.match(problems({ tls: { cert: '/etc/wi/client.pem' } }), [/^tls: cert and key go together/]);
  t.match(problems({ sparkplug: { enabled: true } }), [/^sparkplug.groupId: required when Sparkplug is enabled/]);
  t.match(problems({ outbox: { highWater: 1.5 } }), [/^outbox.highWater: expected < 1/]);
  t.match(problems({ colour: 'red' }), [/unknown key "colour"/]);
  t.same(problems({ sparkplug: { enabled: true, groupId: 'fab2' } }), [], 'Sparkplug with its group id');
});

t.test('client id: given, or unique per station and host', async (t) => {
  t.equal(clientIdFor('st-7', 'mine'), 'mine');
  t.equal(clientIdFor('st-7', undefined, 'edge01'), 'wafer-inspect-st-7-edge01');
  t.not(clientIdFor('st-7', undefined, 'edge01'), clientIdFor('st-8', undefined, 'edge01'));
  t.equal(clientIdFor('st 7/a', undefined, 'edge.local'), 'wafer-inspect-st_7_a-edge_local', 'only safe characters');
});

t.test('topics: one layout under prefix and station', async (t) => {
  const x = topicsFor('fab2/wi', 'st-7');
  t.same([x.available, x.stats, x.channel('results'), x.channel('moves'), x.state('recipe'), x.command('setpoint'), x.commandFilter, x.reply('setpoint')], [
    'fab2/wi/st-7/available',
    'fab2/wi/st-7/stats',
    'fab2/wi/st-7/results',
    'fab2/wi/st-7/moves',
    'fab2/wi/st-7/state/recipe',
    'fab2/wi/st-7/set/setpoint',
    'fab2/wi/st-7/set/+',
    'fab2/wi/st-7/reply/setpoint',
  ]);
  t.throws(() => topicsFor('wi', 'a/b'), /station id "a\/b" cannot be a topic level/);
});

t.test('connect options: will, secrets from the environment, TLS files', async (t) => {
  const c = telemetrySchema.parse({ enabled: true, username: 'wi', passwordEnv: 'WI_MQTT_PW' });
  const o = connectOptions(c, { clientId: 'id', willTopic: 'wi/st/available', env: { WI_MQTT_PW: 's3cret' } });
  t.match(o, { clientId: 'id', username: 'wi', password: 's3cret', clean: true, will: { topic: 'wi/st/available', qos: 1, retain: true } });
  t.equal(String(o.will?.payload), 'offline');
  t.throws(() => connectOptions(c, { clientId: 'id', willTopic: 'w', env: {} }), new TelemetryConfigError('telemetry.passwordEnv: environment variable WI_MQTT_PW is not set'));
  const tls = telemetrySchema.parse({ url: 'mqtts://broker:8883', tls: { ca: '/nonexistent/ca.pem' } });
  t.throws(() => connectOptions(tls, { clientId: 'id', willTopic: 'w', env: {} }), /telemetry.tls.ca: cannot read \/nonexistent\/ca.pem: ENOENT/);
});

t.test('outbox path: as given, in the systemd state directory, or beside the config', async (t) => {
  const c = telemetrySchema.parse({});
  t.equal(outboxPathFor({ ...c.outbox, path: 'q/out.db' }, '/etc/wi'), '/etc/wi/q/out.db');
  t.equal(outboxPathFor(c.outbox, '/etc/wi', { STATE_DIRECTORY: '/var/lib/wafer-inspect' }), '/var/lib/wafer-inspect/telemetry-outbox.sqlite');
  t.equal(outboxPathFor(c.outbox, '/etc/wi', {}), '/etc/wi/telemetry-outbox.sqlite');
});

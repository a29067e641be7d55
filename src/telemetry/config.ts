import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * The `telemetry` section of the config: one MQTT broker, the topic prefix, credentials, TLS and the
 * durable outbox. Off unless enabled, so the demo and the tests run without a broker.
 */

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
// '+', '#' and '/' inside one level would make topics that subscribers cannot address.
const topicLevels = z
  .string()
  .min(1)
  .regex(/^[^+#\s]+$/, 'no wildcards (+, #) or spaces')
  .refine((s) => !s.startsWith('/') && !s.endsWith('/') && !s.includes('//'), 'no leading, trailing or doubled /');

const tls = z
  .object({
    ca: z.string().min(1).optional().describe('PEM file of the CA that signed the broker certificate'),
    cert: z.string().min(1).optional().describe('PEM client certificate, for brokers that require one'),
    key: z.string().min(1).optional().describe('PEM private key of the client certificate'),
    keyPassphraseEnv: envName.optional().describe('environment variable holding the key passphrase'),
    rejectUnauthorized: z.boolean().default(true).describe('false accepts any broker certificate: test benches only'),
    servername: z.string().min(1).optional().describe('name to check the broker certificate against, when the url holds an address'),
  })
  .strict()
  .refine((t) => (t.cert === undefined) === (t.key === undefined), 'cert and key go together');

const outbox = z
  .object({
    path: z.string().min(1).optional().describe('SQLite file; default: telemetry-outbox.sqlite in $STATE_DIRECTORY, else beside the config'),
    maxBytes: z.number().int().min(1 << 16).default(256 * 1024 * 1024).describe('payload bytes held at most; beyond it new records are refused and counted'),
    highWater: z.number().gt(0).lt(1).default(0.8).describe('share of maxBytes at which the outbox-high-water alarm is raised'),
    synchronous: z.enum(['full', 'normal']).default('full').describe('full survives power loss; normal only a process crash, with fewer disk flushes'),
  })
  .strict();

const commands = z
  .object({
    enabled: z.boolean().default(true).describe('listen on <prefix>/<station>/set/#'),
    recipeDir: z.string().min(1).optional().describe('recipes named by path must lie in this folder; without it only inline YAML is taken'),
    maxRecipeBytes: z.number().int().positive().default(256 * 1024),
    modelDir: z.string().min(1).optional().describe('model folders named by set/model must lie in this folder; without it the model is not changed by command'),
  })
  .strict();

// Sparkplug ids are topic levels; a device id also names a metric path on the host, so keep them plain.
const sparkplugId = z.string().min(1).regex(/^[^+#/\s]+$/, 'no /, +, # or spaces');

const sparkplug = z
  .object({
    enabled: z.boolean().default(false),
    groupId: sparkplugId.optional().describe('required when enabled'),
    edgeNodeId: sparkplugId.optional().describe('default: the station id'),
    primaryHostId: sparkplugId.optional().describe('births wait for spBv1.0/STATE/<id> to say online'),
    clientId: z.string().min(1).max(128).optional().describe('default: <telemetry client id>-spb (a second connection, with NDEATH as its will)'),
    inspectionDevice: sparkplugId.default('inspection').describe('device id of results, alarms, recipe, model and run state'),
    armDevices: z.record(z.string(), sparkplugId).default({}).describe('arm id -> device id; default: the arm id'),
  })
  .strict()
  .refine((s) => !s.enabled || s.groupId !== undefined, { message: 'required when Sparkplug is enabled', path: ['groupId'] });

export const telemetrySchema = z
  .object({
    enabled: z.boolean().default(false),
    url: z
      .string()
      .regex(/^(mqtts?|tcp|ssl|wss?):\/\/[^\s]+$/, 'a broker url such as mqtt://host:1883 or mqtts://host:8883')
      .default('mqtt://127.0.0.1:1883'),
    clientId: z.string().min(1).max(128).optional().describe('default: wafer-inspect-<station>-<host>, unique per station'),
    prefix: topicLevels.default('wafer-inspect'),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5).describe('5 (MQTT 5) or 4 (MQTT 3.1.1)'),
    username: z.string().min(1).optional(),
    password: z.string().optional().describe('prefer passwordEnv: a secret in a config file ends up in backups'),
    passwordEnv: envName.optional(),
    tls: tls.optional(),
    keepaliveS: z.number().int().min(5).max(3600).default(30),
    reconnectMs: z.number().int().min(100).max(600_000).default(2000),
    connectTimeoutMs: z.number().int().min(500).default(10_000),
    statsIntervalMs: z.number().int().min(500).default(5000),
    maxInflight: z.number().int().min(1).max(1000).default(64).describe('QoS 1 messages awaiting PUBACK at once'),
    outbox: outbox.default(outbox.parse({})),
    commands: commands.default(commands.parse({})),
    sparkplug: sparkplug.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.password !== undefined && t.passwordEnv !== undefined) ctx.addIssue({ code: 'custom', path: ['passwordEnv'], message: 'give password or passwordEnv, not both' });
    if ((t.password !== undefined || t.passwordEnv !== undefined) && t.username === undefined) ctx.addIssue({ code: 'custom', path: ['username'], message: 'missing, a password needs a username' });
  });

export type TelemetryConfig = z.infer<typeof telemetrySchema>;

/**
 * Two clients with one id knock each other off the broker in turn, which shows as availability
 * flapping; the host name keeps two appliances of one station apart, the station two stations on one host.
 */
export function clientIdFor(station: string, configured?: string, host = hostname()): string {
  if (configured) return configured;
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
  return `wafer-inspect-${safe(station)}-${safe(host)}`;
}

/** Where the outbox lives: as configured (relative to `baseDir`), else systemd's state directory, else `baseDir`. */
export function outboxPathFor(c: TelemetryConfig['outbox'], baseDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (c.path) return isAbsolute(c.path) ? c.path : resolve(baseDir, c.path);
  const state = env.STATE_DIRECTORY?.split(':')[0];
  return join(state || baseDir, 'telemetry-outbox.sqlite');
}

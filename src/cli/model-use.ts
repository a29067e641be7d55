import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { connect } from 'mqtt';
import { loadConfig } from '../config/load.js';
import type { CommandReply } from '../telemetry/commands/index.js';
import { connectOptions } from '../telemetry/connect-options.js';
import { topicsFor } from '../telemetry/topics.js';
import { num } from './args.js';

interface UseFlags {
  config?: string;
  url?: string;
  prefix?: string;
  station?: string;
  variant?: 'int8' | 'fp32';
  timeout: number;
}

/**
 * Sends `set/model` to a running appliance over its broker and waits for the answer: the same
 * command, checks and reply as from any MQTT client. Broker, credentials, prefix and station come
 * from the appliance's config file, each overridable.
 */
export function modelUseCommand(): Command {
  return new Command('use')
    .description('make a running appliance inspect with another model, without a restart (sends set/model over MQTT and waits for the reply)')
    .argument('<dir>', 'model folder as the appliance sees it: absolute, or relative to its telemetry.commands.modelDir')
    .option('--config <file>', "the appliance's config: broker url, credentials, topic prefix, station")
    .option('--url <url>', 'broker url (default: from --config, else mqtt://127.0.0.1:1883)')
    .option('--prefix <prefix>', 'topic prefix (default: from --config)')
    .option('--station <id>', 'station id (default: from --config)')
    .addOption(new Option('--variant <v>', 'image model to run (default: the one in use)').choices(['int8', 'fp32']))
    .option('--timeout <s>', 'seconds to wait for the reply', num('--timeout'), 60)
    .action(async (dir: string, o: UseFlags) => {
      const config = await loadConfig(o.config);
      const t = { ...config.telemetry, ...(o.url ? { url: o.url } : {}), ...(o.prefix ? { prefix: o.prefix } : {}) };
      const topics = topicsFor(t.prefix, o.station ?? config.station);
      const clientId = `wafer-inspect-cli-${process.pid}-${randomBytes(3).toString('hex')}`;
      // the appliance's last will is its own: this client must not announce it offline
      const { will: _will, ...opts } = connectOptions(t, { clientId, willTopic: topics.available });
      const client = connect(t.url, { ...opts, reconnectPeriod: 0 });
      const id = clientId;
      try {
        const reply = await new Promise<CommandReply>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no reply on ${topics.reply('model')} within ${o.timeout} s: is the appliance running with telemetry and commands on?`)), o.timeout * 1000);
          client.on('error', (e) => {
            clearTimeout(timer);
            reject(new Error(`broker ${t.url}: ${e.message}`));
          });
          client.on('message', (_topic, payload) => {
            let r: CommandReply;
            try {
              r = JSON.parse(payload.toString()) as CommandReply;
            } catch {
              return;
            }
            if (r.id !== id) return;
            clearTimeout(timer);
            resolve(r);
          });
          client.once('connect', () => {
            client
              .subscribeAsync(topics.reply('model'), { qos: 1 })
              .then(() => client.publishAsync(topics.command('model'), JSON.stringify({ id, path: dir, ...(o.variant ? { variant: o.variant } : {}) }), { qos: 1 }))
              .catch((e: Error) => reject(e));
          });
        });
        if (!reply.ok) {
          process.stderr.write(`refused: ${reply.error}\n`);
          process.stdout.write(JSON.stringify(reply) + '\n');
          process.exitCode = 1;
          return;
        }
        const state = await retained(client, topics.state('model'));
        process.stdout.write(`${topics.base}: now inspecting with ${state?.id ?? dir}${state?.variant ? ` (${state.variant})` : ''}\n`);
        process.stdout.write(JSON.stringify({ ...reply, model: state }) + '\n');
      } finally {
        await client.endAsync();
      }
    });
}

/** The retained value of a state topic, or undefined when none arrives within a second. */
async function retained(client: ReturnType<typeof connect>, topic: string): Promise<{ id: string; variant?: string } | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 1000);
    client.on('message', (tp, payload) => {
      if (tp !== topic) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(payload.toString()) as { id: string; variant?: string });
      } catch {
        resolve(undefined);
      }
    });
    void client.subscribeAsync(topic, { qos: 1 });
  });
}

/** What the whole-appliance benchmarks share: the simulated arms, the broker's cleanup, a quiet logger. */
import { connectAsync } from 'mqtt';
import { createLogger } from '../src/common/log.js';
import { DEFAULT_LINKS } from '../src/sim/closed-loop.js';
import { STATE_NAMES, topicsFor } from '../src/telemetry/topics.js';

export const SIM_ARMS = [...new Set(DEFAULT_LINKS.map((l) => l.arm))];
export const MB = 1024 * 1024;
export const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** Errors only, to stderr: stdout is the benchmark's report. */
export const benchLog = createLogger('error', { write: (s: string) => void process.stderr.write(s) });

/** Retained state a service left under a run's prefix: removed, so the broker does not collect it. */
export async function clearRetained(brokerUrl: string, prefix: string, station: string): Promise<void> {
  const t = topicsFor(prefix, station);
  const c = await connectAsync(brokerUrl, { clientId: `wi-bench-clean-${process.pid}`, reconnectPeriod: 0 });
  for (const topic of [t.available, ...STATE_NAMES.map((n) => t.state(n))]) await c.publishAsync(topic, '', { qos: 1, retain: true });
  await c.endAsync();
}

/** Fails at once, naming the URL, rather than as a timeout later. */
export async function checkBroker(brokerUrl: string): Promise<void> {
  await (await connectAsync(brokerUrl, { reconnectPeriod: 0, connectTimeout: 3000 })).endAsync();
}

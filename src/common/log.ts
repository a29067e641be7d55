import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout (the journal takes them under systemd). LOG_LEVEL in the environment wins over
 * the config, so an engineer can raise the level of one run without editing the file. Per-wafer
 * events are never logged at info: hot-loop problems are counted and reported in stats instead.
 */
export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  const opts = { level: process.env.LOG_LEVEL ?? level, base: { service: 'wafer-inspect' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(opts, destination) : pino(opts);
}

/**
 * Logs a recurring problem once, then counts repeats; report() logs each count since the last report
 * and starts over. A flapping link or a stream of bad frames becomes a few lines, not a flood.
 */
export class ProblemCounter {
  private readonly counts = new Map<string, { n: number; example: string }>();

  constructor(private readonly log: Logger) {}

  note(kind: string, message: string): void {
    const c = this.counts.get(kind);
    if (c) {
      c.n++;
      return;
    }
    this.counts.set(kind, { n: 1, example: message });
    this.log.warn({ kind }, message);
  }

  report(): void {
    for (const [kind, c] of this.counts) if (c.n > 1) this.log.warn({ kind, count: c.n, example: c.example }, `${kind}: ${c.n} times since last report`);
    this.counts.clear();
  }
}

import { spawn } from 'node:child_process';
import type { Logger } from '../common/log.js';

/**
 * sd_notify for a process that cannot send on a Unix datagram socket (Node has no API for one): each
 * message is handed to systemd's own `systemd-notify` helper. Two things make that reliable:
 * - `--pid=<our pid>`: the message names this process as the main PID, and when allowed systemd-notify
 *   sends it with our PID as the sender; the unit still needs `NotifyAccess=all`, since a helper
 *   running as an unprivileged user can only send as itself;
 * - systemd-notify (v246+) waits until the manager has processed the message (a barrier), so the
 *   helper is not gone before systemd looks up which unit it belongs to (the old race).
 * Messages are sent one at a time and in order; a failure is logged once and never stops the line.
 */
export class SystemdNotifier {
  readonly socket: string | undefined;
  /** half of WATCHDOG_USEC, in ms; undefined when systemd expects no watchdog pings from us */
  readonly watchdogMs: number | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
    private readonly helper = env.SYSTEMD_NOTIFY_HELPER || 'systemd-notify',
  ) {
    this.socket = env.NOTIFY_SOCKET || undefined;
    const usec = Number(env.WATCHDOG_USEC);
    // WATCHDOG_PID names the process the pings are expected from; another one's watchdog is not ours.
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogMs = this.socket && forUs && Number.isFinite(usec) && usec > 0 ? Math.max(1, Math.floor(usec / 2000)) : undefined;
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  ready(status: string): Promise<void> {
    return this.send({ READY: '1', STATUS: status });
  }

  status(status: string): Promise<void> {
    return this.send({ STATUS: status });
  }

  stopping(status: string): Promise<void> {
    this.stopWatchdog();
    return this.send({ STOPPING: '1', STATUS: status });
  }

  /**
   * Pings at half of WATCHDOG_USEC, but only when `check` says the line is healthy; otherwise the ping
   * is skipped and systemd restarts the service once the watchdog time has passed without one.
   * `status` is sent along with every ping, so STATUS= stays current at no extra cost.
   */
  startWatchdog(check: () => { ok: boolean; why: string }, status: () => string): void {
    const every = this.watchdogMs;
    if (!this.enabled) return;
    // Without a watchdog STATUS= is still worth refreshing now and then.
    const period = every ?? 5000;
    let skipped = false;
    this.timer = setInterval(() => {
      const c = check();
      if (every === undefined) return void this.send({ STATUS: status() });
      if (c.ok) {
        if (skipped) this.log.warn('line is progressing again; watchdog pings resume');
        skipped = false;
        void this.send({ WATCHDOG: '1', STATUS: status() });
      } else {
        if (!skipped) this.log.error({ why: c.why }, 'line is not progressing; watchdog pings withheld (systemd restarts the service when its watchdog time runs out)');
        skipped = true;
        void this.send({ STATUS: `stalled: ${c.why}` });
      }
    }, period);
    this.timer.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves once the helper has exited; never rejects. */
  send(fields: Record<string, string>): Promise<void> {
    if (!this.socket) return Promise.resolve();
    const args = [`--pid=${process.pid}`, ...Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)];
    this.chain = this.chain.then(() => this.run(args));
    return this.chain;
  }

  /** Waits for messages already handed to the helper. */
  flush(): Promise<void> {
    return this.chain;
  }

  private run(args: string[]): Promise<void> {
    return new Promise((resolve) => {
      let err = '';
      const child = spawn(this.helper, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: this.socket } });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => {
        this.fail(`${this.helper}: ${e.message}`);
        resolve();
      });
      child.on('close', (code) => {
        if (code !== 0) this.fail(`${this.helper} ${args.join(' ')} exited with ${code}: ${err.trim()}`);
        resolve();
      });
    });
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.log.error({ socket: this.socket }, `cannot notify systemd (logged once): ${message}`);
  }
}

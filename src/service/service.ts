import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createCapture, sourceVisibleGeometry, type CaptureDriver } from '../capture/index.js';
import { ProblemCounter, type Logger } from '../common/log.js';
import { recipePath, stationDir } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { MoveRecord } from '../control/link.js';
import type { FusedWafer } from '../fusion/result.js';
import type { InspectedWafer } from '../inspection/inspector.js';
import type { ResultRecord } from '../inspection/result.js';
import { checksDies } from '../model/manifest.js';
import { connectOptions, TelemetryConfigError } from '../telemetry/connect-options.js';
import { outboxPathFor, StatsCollector, TelemetryPublisher, topicsFor, type AlarmRecord, type TelemetryStatus } from '../telemetry/index.js';
import { openAppliance, type Appliance } from './appliance.js';
import { ControlRig, loadArmProfiles } from './arms.js';
import { captureOptions } from './capture-options.js';
import { modelState, recipeState, ServiceCommands, type ModelChange } from './commands.js';
import { CaptureGate } from './gate.js';
import { HttpEndpoints, type HealthReport } from './http.js';
import { runLine } from './line.js';
import { ServiceMetrics } from './metrics.js';
import { SystemdNotifier } from './notify.js';
import { Progress } from './progress.js';

/** Problems in the configuration found before anything is opened: all of them, at once. */
export class StartProblems extends Error {
  constructor(readonly problems: string[]) {
    super(`${problems.length} problem${problems.length > 1 ? 's' : ''} in the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

type Next = (w: FusedWafer) => Promise<InspectedWafer>;

export interface ServiceOptions {
  config: Config;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** wraps the stage after fusion (tests stall the line with it) */
  wrapNext?: (next: Next) => Next;
  /** a capture to use instead of the one the config describes (the line simulation's process-driven line) */
  capture?: CaptureDriver;
  /** sees every result and every applied move, after the service has handled them (a status display) */
  observer?: { result?(r: ResultRecord): void; move?(m: MoveRecord): void };
}

/** Checks that need more than the schema: hardware profiles, control links against them, telemetry secrets and files. */
export async function startChecks(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const problems: string[] = [];
  if (config.control.arms.length > 0 || config.control.links.length > 0) problems.push(...(await loadArmProfiles(config.control)).problems);
  if (config.telemetry.enabled) {
    try {
      connectOptions(config.telemetry, { clientId: 'check', willTopic: topicsFor(config.telemetry.prefix, config.station).available, env });
    } catch (e) {
      if (!(e instanceof TelemetryConfigError)) throw e;
      problems.push(`telemetry: ${e.message}`);
    }
  }
  return problems;
}

export function stateDirFor(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  return config.service.stateDir ?? env.STATE_DIRECTORY?.split(':')[0] ?? '/var/lib/wafer-inspect';
}

/**
 * The appliance as a long-running service: every stage, telemetry, control and the arms, the HTTP
 * endpoints and the systemd protocol. start() returns once the line runs and READY=1 was sent;
 * stop() is the orderly shutdown (stop capture, finish the wafers in flight, flush the outbox,
 * publish `stopped`) and returns the exit code.
 */
export class Service {
  readonly progress: Progress;
  readonly notifier: SystemdNotifier;
  readonly metrics: ServiceMetrics;
  httpPort = 0;
  /** resolves once the line has ended, by stop() or because capture ran out */
  readonly ended: Promise<void>;
  private endLine!: () => void;
  private appliance: Appliance | undefined;
  private publisher: TelemetryPublisher | undefined;
  private rig: ControlRig | null = null;
  private gate: CaptureGate | undefined;
  private commands: ServiceCommands | undefined;
  private http: HttpEndpoints | undefined;
  private line: Promise<unknown> = Promise.resolve();
  private stopping: Promise<number> | undefined;
  private readonly stats = new StatsCollector();
  private readonly problems: ProblemCounter;
  private problemTimer: NodeJS.Timeout | undefined;
  private modelAlarm = false;
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(private readonly o: ServiceOptions) {
    this.log = o.log;
    this.env = o.env ?? process.env;
    this.problems = new ProblemCounter(o.log);
    this.progress = new Progress(o.config.service.stallAfterMs);
    this.notifier = new SystemdNotifier(o.log, this.env);
    this.ended = new Promise((r) => (this.endLine = r));
    this.metrics = new ServiceMetrics({
      inFlight: () => this.progress.inFlight,
      paused: () => this.progress.paused,
      healthy: () => this.progress.health().ok,
      ready: () => this.progress.phase === 'running',
      outbox: () => {
        const s = this.publisher?.status();
        return { depth: s?.outbox.depth ?? 0, bytes: s?.outbox.bytes ?? 0, connected: s?.connected ?? false, enabled: this.publisher !== undefined };
      },
      arms: () => this.rig?.armStates() ?? {},
      wafersPerSecond: () => this.progress.wafersPerSecond(),
    });
  }

  static async start(o: ServiceOptions): Promise<Service> {
    const s = new Service(o);
    try {
      await s.open();
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  private async open(): Promise<void> {
    const { config } = this.o;
    const problems = await startChecks(config, this.env);
    if (problems.length > 0) throw new StartProblems(problems);
    const stateDir = stateDirFor(config, this.env);
    try {
      mkdirSync(stateDir, { recursive: true });
    } catch (e) {
      throw new StartProblems([`service.stateDir: cannot create ${stateDir}: ${(e as Error).message}`]);
    }

    // Up first, so that /healthz answers "starting" (503) while the model loads.
    this.http = new HttpEndpoints(this.metrics, () => this.healthReport(), this.log);
    this.httpPort = await this.http.listen(config.service.httpPort, config.service.httpHost);

    // a source's own warm-up (the synthetic line's looks) runs when its frames are first asked for,
    // after READY: it is not what READY promises, and on two cores it would slow what READY waits for
    const capture: CaptureDriver = this.o.capture ?? createCapture(captureOptions(config.capture));
    // a recorded lot's frames are cropped with its own geometry: the verifier's pitch is checked against that
    const visible = await sourceVisibleGeometry(capture, stationDir(config));
    const appliance = (this.appliance = await openAppliance(config, this.log, visible));
    const { profiles } = config.control.arms.length > 0 ? await loadArmProfiles(config.control) : { profiles: new Map() };
    const links = new Map(config.control.links.map((l) => [l.id, { arm: l.arm, parameter: l.parameter }]));
    const gate = (this.gate = new CaptureGate(capture, () => this.taken()));
    const initialRecipe = recipeState(appliance.recipe, recipePath(config), appliance.prepared);

    if (config.telemetry.enabled) {
      // The handler is created below, once the rig exists; commands arriving before that wait in the chain.
      const handler = {
        pause: () => this.commands!.pause(),
        resume: () => this.commands!.resume(),
        changeRecipe: (s: { yaml: string } | { path: string }) => this.commands!.changeRecipe(s),
        setMode: (t: { arm: string } | { link: string }, m: 'auto' | 'manual') => this.commands!.setMode(t, m),
        setSetpoint: (s: { arm: string; parameter: string; value: number }) => this.commands!.setSetpoint(s),
        useModel: (s: { path: string; variant?: 'int8' | 'fp32' }) => this.commands!.useModel(s),
      };
      this.publisher = new TelemetryPublisher({
        config: config.telemetry,
        station: config.station,
        log: this.log,
        outboxPath: outboxPathFor(config.telemetry.outbox, stateDir, {}),
        handler: config.telemetry.commands.enabled ? handler : undefined,
        profiles,
        links,
        stats: (t) => this.stats.payload({ queueDepth: this.progress.inFlight, telemetry: t }),
        env: this.env,
      });
    }

    if (profiles.size > 0) {
      this.rig = new ControlRig(config.control, profiles, {
        stateDir: config.control.stateDir ?? join(stateDir, 'actuators'),
        brokerUrl: config.telemetry.url,
        log: this.log,
        specs: appliance.prepared.specs.map((s) => s.id),
        sink: {
          move: (m) => {
            this.metrics.move(m.link);
            this.publisher?.move(m);
            this.publishControl();
            this.o.observer?.move?.(m);
          },
          event: (e) => {
            this.publisher?.event(e);
            this.publishControl();
          },
          alarm: (a) => this.alarm(a),
        },
      });
      await this.rig.start();
    }

    this.commands = new ServiceCommands({
      config,
      visible,
      recipe: appliance.recipe,
      gate,
      inspector: appliance.inspector,
      model: appliance.model,
      thresholds: appliance.thresholds,
      rig: this.rig,
      log: this.log,
      initialRecipe,
      onRun: (r) => (this.progress.paused = r.state === 'paused'),
      onSpecs: (ids) => this.rig?.setSpecs(ids),
      onModel: (c) => this.modelChanged(c),
    });
    this.publisher?.setState('model', modelState(appliance.model, config.model.variant));
    this.publisher?.setState('recipe', initialRecipe);
    this.publisher?.setState('run', this.commands.run);
    if (this.rig) this.publisher?.setState('control', this.rig.state());

    const inspect: Next = (w) => appliance.inspector.inspect(w);
    const next = this.o.wrapNext ? this.o.wrapNext(inspect) : inspect;
    this.progress.phase = 'running';
    this.line = runLine({
      capture: gate,
      fusion: appliance.fusion,
      maxInFlight: appliance.fusion.workers * 2 + config.model.maxBatch,
      next,
      onWafer: ({ record }) => this.result(record),
    })
      .catch((e: Error) => this.log.error({ err: e }, 'the line failed'))
      .finally(() => this.endLine());
    this.problemTimer = setInterval(() => this.problems.report(), 60_000);
    this.problemTimer.unref();

    this.log.info(
      { station: config.station, capture: gate.name, model: appliance.model.id, telemetry: config.telemetry.enabled ? this.publisher?.topics.base : 'off', arms: this.rig?.armStates() ?? {}, http: this.httpPort },
      'service ready',
    );
    await this.notifier.ready(this.statusText());
    this.notifier.startWatchdog(
      () => this.progress.health(),
      () => this.statusText(),
    );
  }

  private taken(): void {
    this.progress.taken();
    this.stats.taken();
    this.metrics.taken();
  }

  private result(r: ResultRecord): void {
    this.progress.done();
    this.stats.result(r);
    this.metrics.result(r);
    if (r.reason && r.verdict === 'not-inspected') this.problems.note(r.verdict, `${r.wafer}: ${r.reason}`);
    this.publisher?.result(r);
    this.rig?.result(r);
    this.o.observer?.result?.(r);
  }

  private alarm(a: AlarmRecord): void {
    this.metrics.alarm(a.code, a.active);
    this.publisher?.alarm(a);
    this.publishControl();
  }

  /** A model change goes out as an event; a refusal also as an alarm, cleared by the next change that is applied. */
  private modelChanged(c: ModelChange): void {
    const at = Date.now();
    if (c.ok) {
      // wafers fused before this are compared with their dies by the new model's worker where it needs them
      if (this.appliance) this.appliance.fusion.comparesDies = checksDies(c.to.model.manifest);
      this.publisher?.event({ at, kind: 'model-changed', model: c.to.model.id, from: c.from, path: c.path, variant: c.to.variant, reason: `model ${c.from} replaced by ${c.to.model.id}` });
      this.publisher?.setState('recipe', c.recipe);
      if (this.modelAlarm) {
        this.modelAlarm = false;
        this.alarm({ at: new Date(at).toISOString(), code: 'model-refused', severity: 'warning', active: false, source: 'model', message: `model ${c.to.model.id} in use` });
      }
      return;
    }
    this.publisher?.event({ at, kind: 'model-refused', model: c.current, path: c.path, variant: c.variant, reason: c.reason });
    this.modelAlarm = true;
    this.alarm({ at: new Date(at).toISOString(), code: 'model-refused', severity: 'warning', active: true, source: 'model', message: `model in ${c.path} (${c.variant}) refused, ${c.current} runs on: ${c.reason}` });
  }

  private publishControl(): void {
    if (this.rig) this.publisher?.setState('control', this.rig.state());
  }

  /** What commands from the broker reach; also for callers in the same process. */
  get handler(): ServiceCommands | undefined {
    return this.commands;
  }

  /** The broker link and the outbox; undefined when telemetry is off. */
  telemetryStatus(): TelemetryStatus | undefined {
    return this.publisher?.status();
  }

  /** Each configured arm's state: healthy, connecting, faulted, degraded or stopped. */
  armStates(): Record<string, string> {
    return this.rig?.armStates() ?? {};
  }

  statusText(): string {
    const p = this.progress;
    const parts = [`${p.wafersPerSecond().toFixed(1)} wafers/s`, `${p.wafersOut} inspected`, `${p.inFlight} in flight`];
    if (p.paused) parts.push('paused');
    const degraded = Object.entries(this.rig?.armStates() ?? {}).filter(([, s]) => s !== 'healthy');
    if (degraded.length) parts.push(`arms not healthy: ${degraded.map(([a, s]) => `${a} ${s}`).join(', ')}`);
    const t = this.publisher?.status();
    if (t && !t.connected) parts.push(`broker down, outbox ${t.outbox.depth}`);
    return parts.join(', ');
  }

  healthReport(): HealthReport {
    const h = this.progress.health();
    const t = this.publisher?.status();
    return {
      ok: h.ok,
      why: h.why,
      phase: this.progress.phase,
      paused: this.progress.paused,
      wafers: { in: this.progress.wafersIn, out: this.progress.wafersOut, inFlight: this.progress.inFlight },
      idleForS: this.progress.idleForS(),
      telemetry: t ? { connected: t.connected, outboxDepth: t.outbox.depth } : 'off',
      arms: this.rig?.armStates() ?? {},
    };
  }

  /** Orderly shutdown, at most service.stopTimeoutMs; resolves with the exit code (0 when it finished in time). */
  stop(reason: string): Promise<number> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  private async shutdown(reason: string): Promise<number> {
    const { stopTimeoutMs, drainMs } = this.o.config.service;
    const t0 = performance.now();
    const inFlight = this.progress.inFlight;
    this.progress.phase = 'stopping';
    this.log.info({ reason, inFlight }, 'stopping: capture stops, wafers in flight are finished');
    void this.notifier.stopping(`stopping (${reason}): finishing ${inFlight} wafers in flight`);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), stopTimeoutMs)));
    const orderly = (async () => {
      this.gate?.stop();
      await this.line;
      // What is left of the stop time after the line, but never more than drainMs, goes to the outbox.
      const left = stopTimeoutMs - (performance.now() - t0) - 1000;
      await this.close(Math.max(0, Math.min(drainMs, left)));
      return 'done' as const;
    })();
    const how = await Promise.race([orderly, timedOut]);
    clearTimeout(timer);
    if (how === 'timeout') {
      this.log.error({ stopTimeoutMs, inFlight: this.progress.inFlight }, 'stop took longer than service.stopTimeoutMs; exiting anyway (records not yet sent stay in the outbox)');
      return 1;
    }
    this.progress.phase = 'stopped';
    this.log.info({ wafersIn: this.progress.wafersIn, wafersOut: this.progress.wafersOut, ms: Math.round(performance.now() - t0) }, 'stopped');
    return 0;
  }

  private async close(drainMs = 0): Promise<void> {
    clearInterval(this.problemTimer);
    this.notifier.stopWatchdog();
    this.problems.report();
    // Arms first: their last moves and alarms still go into the outbox.
    await this.rig?.stop();
    await this.publisher?.close({ drainMs });
    await this.commands?.settled();
    await this.appliance?.close();
    await this.http?.close();
    await this.notifier.flush();
  }
}

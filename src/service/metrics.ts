import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ResultRecord } from '../inspection/result.js';

/**
 * The service's Prometheus metrics, in a registry of its own (not the library's global one), so two
 * services in one process (tests) do not collide. Gauges that mirror state elsewhere are read when
 * scraped, through `collect`, rather than kept up to date on every wafer.
 */
export interface MetricSources {
  inFlight(): number;
  paused(): boolean;
  healthy(): boolean;
  ready(): boolean;
  outbox(): { depth: number; bytes: number; connected: boolean; enabled: boolean };
  arms(): Record<string, string>;
  wafersPerSecond(): number;
}

const ARM_STATES = ['connecting', 'healthy', 'faulted', 'degraded', 'stopped'] as const;

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly wafersIn: Counter;
  private readonly wafersOut: Counter;
  private readonly verdicts: Counter<'verdict'>;
  private readonly findings: Counter<'spec'>;
  private readonly latency: Histogram;
  private readonly moves: Counter<'link'>;
  private readonly alarms: Counter<'code'>;

  constructor(src: MetricSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'wafer_inspect_' });
    const registers = [r];
    this.wafersIn = new Counter({ name: 'wafer_inspect_wafers_in_total', help: 'wafers taken from capture', registers });
    this.wafersOut = new Counter({ name: 'wafer_inspect_wafers_out_total', help: 'wafers with a result record', registers });
    this.verdicts = new Counter({ name: 'wafer_inspect_verdicts_total', help: 'result records by verdict', labelNames: ['verdict'], registers });
    for (const v of ['pass', 'fail', 'not-inspected']) this.verdicts.inc({ verdict: v }, 0);
    this.findings = new Counter({ name: 'wafer_inspect_findings_total', help: 'findings by spec', labelNames: ['spec'], registers });
    this.latency = new Histogram({
      name: 'wafer_inspect_result_latency_seconds',
      help: 'frame arrival to result record',
      buckets: [0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    });
    this.moves = new Counter({ name: 'wafer_inspect_control_moves_total', help: 'moves applied to arms, by control link', labelNames: ['link'], registers });
    this.alarms = new Counter({ name: 'wafer_inspect_alarms_total', help: 'alarms raised, by code', labelNames: ['code'], registers });
    new Gauge({ name: 'wafer_inspect_in_flight', help: 'wafers between capture and result', registers, collect() { this.set(src.inFlight()); } });
    new Gauge({ name: 'wafer_inspect_wafers_per_second', help: 'results per second over the last status period', registers, collect() { this.set(src.wafersPerSecond()); } });
    new Gauge({ name: 'wafer_inspect_paused', help: '1 while capture is paused by an operator', registers, collect() { this.set(src.paused() ? 1 : 0); } });
    new Gauge({ name: 'wafer_inspect_ready', help: '1 once start-up is complete, 0 while starting or stopping', registers, collect() { this.set(src.ready() ? 1 : 0); } });
    new Gauge({ name: 'wafer_inspect_healthy', help: '1 while the line is progressing or idle (what /healthz answers)', registers, collect() { this.set(src.healthy() ? 1 : 0); } });
    const outbox = () => src.outbox();
    new Gauge({ name: 'wafer_inspect_outbox_depth', help: 'records waiting in the telemetry outbox', registers, collect() { this.set(outbox().depth); } });
    new Gauge({ name: 'wafer_inspect_outbox_bytes', help: 'payload bytes waiting in the telemetry outbox', registers, collect() { this.set(outbox().bytes); } });
    new Gauge({ name: 'wafer_inspect_broker_connected', help: '1 while connected to the MQTT broker (always 0 when telemetry is off)', registers, collect() { const o = outbox(); if (o.enabled) this.set(o.connected ? 1 : 0); } });
    new Gauge({
      name: 'wafer_inspect_arm_state',
      help: '1 for the state each configured arm is in',
      labelNames: ['arm', 'state'],
      registers,
      collect() {
        this.reset();
        for (const [arm, state] of Object.entries(src.arms())) for (const s of ARM_STATES) this.set({ arm, state: s }, s === state ? 1 : 0);
      },
    });
  }

  taken(): void {
    this.wafersIn.inc();
  }

  result(r: ResultRecord): void {
    this.wafersOut.inc();
    this.verdicts.inc({ verdict: r.verdict });
    for (const f of r.findings) this.findings.inc({ spec: f.spec });
    if (Number.isFinite(r.latencyMs)) this.latency.observe(r.latencyMs / 1000);
  }

  move(link: string): void {
    this.moves.inc({ link });
  }

  alarm(code: string, active: boolean): void {
    if (active) this.alarms.inc({ code });
  }
}

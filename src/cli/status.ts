import { DEFECT_CLASSES, type DefectClass } from '../common/defects.js';
import { RecentSamples } from '../common/percentiles.js';
import type { ResultRecord, Verdict } from '../inspection/result.js';

/** What the line did: verdicts, moves, and each class's share of the most recent wafers. */
export class LineTally {
  readonly verdicts: Record<Verdict, number> = { pass: 0, fail: 0, 'not-inspected': 0 };
  readonly latencyMs = new RecentSamples();
  wafers = 0;
  moves = 0;
  private readonly recent: string[][] = [];
  private readonly inWindow: Record<string, number> = Object.fromEntries(DEFECT_CLASSES.map((c) => [c, 0]));

  /** `window`: the rates are over this many wafers, the size of the controller's observations */
  constructor(readonly window: number) {}

  result(r: ResultRecord): void {
    this.wafers++;
    this.verdicts[r.verdict]++;
    if (Number.isFinite(r.latencyMs)) this.latencyMs.add(r.latencyMs);
    const classes = [...new Set(r.findings.map((f) => f.class))].filter((c) => c in this.inWindow);
    this.recent.push(classes);
    for (const c of classes) this.inWindow[c]++;
    if (this.recent.length > this.window) for (const c of this.recent.shift()!) this.inWindow[c]--;
  }

  move(): void {
    this.moves++;
  }

  /** Share of the last `window` wafers with a finding of each class. */
  rates(): Record<DefectClass, number> {
    const n = Math.max(1, this.recent.length);
    return Object.fromEntries(DEFECT_CLASSES.map((c) => [c, this.inWindow[c] / n])) as Record<DefectClass, number>;
  }
}

export interface StatusSources {
  tally: LineTally;
  /** the number of wafers a --count run stops at */
  count?: number;
  outbox(): { depth: number; connected: boolean } | undefined;
  arms(): Record<string, string>;
}

/** The status of the line as text lines: rate and progress, verdicts and control, defect rates. */
export class StatusLine {
  private readonly marks: Array<[number, number]> = [];
  /** after the stop: the broker and the arms are gone on purpose, which is no news */
  final = false;

  constructor(private readonly s: StatusSources) {}

  lines(): string[] {
    const { tally: t, count } = this.s;
    const now = performance.now();
    this.marks.push([now, t.wafers]);
    while (this.marks.length > 1 && now - this.marks[0][0] > 5000) this.marks.shift();
    const [t0, n0] = this.marks[0];
    const rate = now > t0 ? ((t.wafers - n0) * 1000) / (now - t0) : 0;
    const head = count ? `${progressBar(t.wafers / count, 20)} ${t.wafers}/${count}${eta(count - t.wafers, rate)}` : `${t.wafers} wafers`;
    const p = (q: number): string => (Number.isFinite(q) ? q.toFixed(0) : '-');
    const o = this.s.outbox();
    const broker = o ? `outbox ${o.depth}${o.connected || this.final ? '' : ' (broker down)'}` : 'telemetry off';
    const down = this.final ? [] : Object.entries(this.s.arms()).filter(([, st]) => st !== 'healthy');
    const arms = down.length ? ` | arms ${down.map(([a, st]) => `${a} ${st}`).join(', ')}` : '';
    const rates = t.rates();
    return [
      `${head} | ${rate.toFixed(1)} wafers/s | pass ${t.verdicts.pass} fail ${t.verdicts.fail} not-inspected ${t.verdicts['not-inspected']}` +
        ` | p50 ${p(t.latencyMs.quantile(0.5))} p99 ${p(t.latencyMs.quantile(0.99))} ms | moves ${t.moves} | ${broker}${arms}`,
      `defect rates, last ${Math.min(t.wafers, t.window)} wafers: ${DEFECT_CLASSES.map((c) => `${c} ${(100 * rates[c]).toFixed(1)}%`).join('  ')}`,
    ];
  }
}

function progressBar(done: number, width: number): string {
  const f = Math.max(0, Math.min(1, done));
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${(100 * f).toFixed(0).padStart(3)}%`;
}

function eta(left: number, rate: number): string {
  if (left <= 0 || rate <= 0) return '';
  const s = Math.ceil(left / rate);
  return ` ETA ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * Draws the status on a terminal, in place (redrawn lines, cut to the terminal's width so that none
 * wraps), or as plain lines now and then when stderr is a pipe or a file. Log lines written while it is
 * on screen go through clear() first, so the status stays below them instead of being overwritten.
 */
export class StatusDisplay {
  private drawn = 0;
  private lastPlain = 0;

  constructor(
    private readonly line: StatusLine,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 2000,
  ) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  draw(final = false): void {
    const lines = this.line.lines();
    if (!this.tty) {
      const now = performance.now();
      if (!final && now - this.lastPlain < this.plainEveryMs) return;
      this.lastPlain = now;
      this.out.write(lines.join(' | ') + '\n');
      return;
    }
    const width = Math.max(20, (this.out.columns ?? 120) - 1);
    this.clear();
    this.out.write(lines.map((l) => (l.length > width ? l.slice(0, width - 1) + '…' : l)).join('\n') + (final ? '\n' : ''));
    this.drawn = final ? 0 : lines.length;
  }

  clear(): void {
    if (!this.tty || this.drawn === 0) return;
    this.out.write('\r' + (this.drawn > 1 ? `\x1b[${this.drawn - 1}A` : '') + '\x1b[J');
    this.drawn = 0;
  }

  /** Text for the terminal above the status, such as log lines. */
  print(text: string, to: NodeJS.WritableStream = this.out): void {
    this.clear();
    to.write(text);
  }
}

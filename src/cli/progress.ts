/** A progress line on stderr for long work, redrawn in place on a terminal and every 10% otherwise. */
export function progressLine(what: string, total: number): { update: (done: number) => void; done: () => void } {
  const tty = process.stderr.isTTY;
  const t0 = performance.now();
  let lastPct = -1;
  return {
    update(done: number) {
      const pct = Math.floor((done / total) * 100);
      if (pct === lastPct || (!tty && pct % 10 !== 0)) return;
      lastPct = pct;
      const rate = done / ((performance.now() - t0) / 1000);
      const eta = rate > 0 ? (total - done) / rate : 0;
      const text = `${what}: ${done}/${total} (${pct}%), ${rate.toFixed(1)}/s, ${eta.toFixed(0)} s left`;
      process.stderr.write(tty ? `\r${text}\x1b[K` : text + '\n');
    },
    done() {
      if (tty) process.stderr.write('\n');
    },
  };
}

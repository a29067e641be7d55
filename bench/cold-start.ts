/**
 * Cold start of `wafer-inspect run` for bench/pipeline.ts: spawn to READY, where READY is /healthz
 * answering 200. The service sets that state in the same step in which it sends READY=1, and a port
 * can be polled without a notify socket (Node cannot bind a Unix datagram socket).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { PACKAGE_ROOT } from '../src/common/paths.js';
import type { Config } from '../src/config/schema.js';
import { freePort } from '../src/common/net.js';

export { freePort };


async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(500) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

/** Milliseconds from spawning the service with this config to its first /healthz 200; the service is then stopped with SIGTERM. */
export async function coldStart(config: Config, dir: string, timeoutMs = 30_000): Promise<number> {
  const c = structuredClone(config);
  c.service.httpPort = await freePort();
  c.log.level = 'warn';
  const file = join(dir, `cold-start-${c.service.httpPort}.yaml`);
  writeFileSync(file, stringify(c));
  const url = `http://127.0.0.1:${c.service.httpPort}/healthz`;
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist/src/cli/main.js'), 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    while (!(await healthy(url))) {
      if (gone) throw new Error(`wafer-inspect run exited before READY:\n${stderr}`);
      if (performance.now() - t0 > timeoutMs) throw new Error(`wafer-inspect run not READY after ${timeoutMs} ms:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return performance.now() - t0;
  } finally {
    if (!gone) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 25_000);
      await exited;
      clearTimeout(t);
    }
  }
}

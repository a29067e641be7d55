import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../common/log.js';
import type { ServiceMetrics } from './metrics.js';

/** What /healthz reports: the answer, and enough detail to see why without reading logs. */
export interface HealthReport {
  ok: boolean;
  why: string;
  [detail: string]: unknown;
}

/**
 * /metrics (Prometheus text format) and /healthz (200 while running and progressing, 503 otherwise,
 * JSON either way). Bound to loopback by default: the plant's scraper or a reverse proxy reaches it
 * on the box; nothing here is meant for the line network.
 */
export class HttpEndpoints {
  private readonly server: Server;

  constructor(
    private readonly metrics: ServiceMetrics,
    private readonly health: () => HealthReport,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/healthz') {
        let h: HealthReport;
        try {
          h = this.health();
        } catch (e) {
          h = { ok: false, why: `health check failed: ${(e as Error).message}` };
        }
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(h) + '\n');
        return;
      }
      if (path === '/metrics') {
        this.metrics.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
          (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e.message}\n`),
        );
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    });
    // A slow or idle scraper must not hold the shutdown up.
    this.server.keepAliveTimeout = 2000;
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.log.info({ host, port: bound }, `metrics and health on http://${host}:${bound}/metrics and /healthz`);
    return bound;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';

/**
 * An MQTT broker inside the process, for the line simulation: nothing to install, and on a free
 * loopback port so that it never collides with a broker the machine already runs on 1883.
 * Aedes speaks MQTT 3.1.1 only, so clients of it connect with protocol version 4.
 */
export class EmbeddedBroker {
  readonly protocolVersion = 4 as const;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly aedes: Aedes,
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  get url(): string {
    return `mqtt://${this.host}:${this.port}`;
  }

  static async start(host = '127.0.0.1', port = 0): Promise<EmbeddedBroker> {
    const aedes = await Aedes.createBroker();
    const server = createServer(aedes.handle);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await new Promise<void>((r) => aedes.close(() => r()));
      throw e;
    }
    return new EmbeddedBroker(aedes, server, host, (server.address() as { port: number }).port);
  }

  /** Disconnects every client (subscribers watching the topics too) and stops listening. */
  async close(): Promise<void> {
    await new Promise<void>((r) => this.aedes.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

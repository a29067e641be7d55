import { createServer, type Server, type Socket } from 'node:net';

/**
 * Modbus TCP framing (MBAP header) around a PDU handler. Listens on any port, 0 included (tests take
 * a free one), and can drop every connection at once to play a cell that stops.
 */
export class ModbusTcpServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  /**
   * `answer` returns the response PDU, or null to stay silent (a unit id that is not ours, a hung
   * device). It may also return 'drop' to close the connection without answering.
   */
  constructor(private readonly answer: (unitId: number, pdu: Buffer) => Buffer | null | 'drop') {}

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = createServer((sock) => this.serve(sock));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** Stops listening and cuts every open connection, as a cell that loses power. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    sock.setNoDelay(true);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 7) {
        const len = buf.readUInt16BE(4);
        if (len < 2 || len > 254) {
          sock.destroy();
          return;
        }
        if (buf.length < 6 + len) break;
        const tid = buf.readUInt16BE(0);
        const unit = buf[6];
        const pdu = Buffer.from(buf.subarray(7, 6 + len));
        buf = buf.subarray(6 + len);
        const res = this.answer(unit, pdu);
        if (res === 'drop') {
          this.sockets.delete(sock);
          sock.destroy();
          return;
        }
        if (!res) continue;
        const head = Buffer.alloc(7);
        head.writeUInt16BE(tid, 0);
        head.writeUInt16BE(0, 2);
        head.writeUInt16BE(res.length + 1, 4);
        head[6] = unit;
        sock.write(Buffer.concat([head, res]));
      }
    });
  }
}

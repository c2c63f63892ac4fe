/**
 * Binds the `ws` library to the gateway: the upgrade on /v1/ws (origin check,
 * subprotocol, refusal while draining), frame size cap, and heartbeats.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { PROTOCOL_JSON, closeCodes } from '../protocol/frames.ts';
import type { Gateway } from './gateway.ts';
import type { Session } from './session.ts';

export interface WsOptions {
  maxPayload: number;
  heartbeatMs: number;
  isOriginAllowed: (origin: string | undefined, host: string | undefined) => boolean;
}

interface Live {
  session: Session;
  lastHeard: number;
}

export class WsServer {
  private readonly wss: WebSocketServer;
  private readonly live = new Map<WebSocket, Live>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly gateway: Gateway;
  private readonly opts: WsOptions;

  constructor(server: Server, gateway: Gateway, opts: WsOptions) {
    this.gateway = gateway;
    this.opts = opts;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      // A client that offers no subprotocol gets JSON too; one that offers only others is refused.
      handleProtocols: (offered) => (offered.has(PROTOCOL_JSON) ? PROTOCOL_JSON : false),
    });
    server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.heartbeat = setInterval(() => this.beat(), opts.heartbeatMs);
    this.heartbeat.unref();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/v1/ws') return refuse(socket, 404, 'Not Found');
    if (this.gateway.isDraining) return refuse(socket, 503, 'Service Unavailable');
    if (!this.opts.isOriginAllowed(req.headers.origin, req.headers.host)) return refuse(socket, 403, 'Forbidden');
    const offered = req.headers['sec-websocket-protocol'];
    if (offered && !offered.split(',').some((p) => p.trim() === PROTOCOL_JSON)) {
      return refuse(socket, 400, 'Bad Request');
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws));
  }

  private connected(ws: WebSocket): void {
    const transport = {
      // Buffers are sent as text frames without a copy: one encoding per event serves every socket.
      send: (data: string | Buffer) => ws.send(data, { binary: false }),
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      close: (code: number, reason: string) => ws.close(code, reason),
    };
    const session = this.gateway.accept(transport);
    const entry: Live = { session, lastHeard: Date.now() };
    this.live.set(ws, entry);
    ws.on('message', (data, isBinary) => {
      entry.lastHeard = Date.now();
      if (isBinary) return session.close(closeCodes.protocolError, 'binary frames need parley.v1.msgpack');
      session.receive(data.toString());
    });
    ws.on('pong', () => {
      entry.lastHeard = Date.now();
    });
    ws.on('error', () => {
      // ws closes the socket itself (1009 for an oversized frame, 1002 for bad framing); 'close' follows.
    });
    ws.on('close', () => {
      this.live.delete(ws);
      session.closed();
    });
  }

  /** Pings every connection; ends those silent for two heartbeats. */
  private beat(): void {
    const cutoff = Date.now() - 2 * this.opts.heartbeatMs;
    for (const [ws, entry] of this.live) {
      if (entry.lastHeard < cutoff) ws.terminate();
      else ws.ping();
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const ws of this.live.keys()) ws.terminate();
    this.wss.close();
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

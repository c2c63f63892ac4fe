/**
 * Binds the `ws` library to the gateway: the upgrade on /v1/ws (origin check,
 * subprotocol, refusal while draining), frame size cap, and heartbeats.
 * Idle connections are most of a chat server's memory, so each one costs one
 * small object here: listeners are shared functions, not per-socket closures.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { PROTOCOL_JSON, closeCodes } from '../protocol/frames.ts';
import type { Gateway } from './gateway.ts';
import type { Session } from './session.ts';
import type { Transport } from './transport.ts';

export interface WsOptions {
  maxPayload: number;
  heartbeatMs: number;
  isOriginAllowed: (origin: string | undefined, host: string | undefined) => boolean;
}

const kConnection = Symbol('parley.connection');

/**
 * Write coalescing. A committed batch fans out in one turn of the event loop,
 * often several frames to the same socket; corking each socket until the turn
 * ends sends them in one write instead of one system call per frame. `ws` has
 * no API for this, so it reaches for the socket `ws` holds (`_socket`).
 */
const corked = new Set<WsConnection>();
let uncorkScheduled = false;

function uncorkAll(): void {
  uncorkScheduled = false;
  for (const c of corked) c.socket?.uncork();
  corked.clear();
}

interface RawSocket {
  cork(): void;
  uncork(): void;
}

/** One socket: the session's transport, and what the heartbeat needs to know. */
class WsConnection implements Transport {
  readonly ws: WebSocket;
  session!: Session;
  lastHeard = Date.now();
  /** bufferedAmount when this turn's cork began. */
  private backlog = 0;

  constructor(ws: WebSocket) {
    this.ws = ws;
  }

  get socket(): RawSocket | undefined {
    return (this.ws as unknown as { _socket?: RawSocket })._socket;
  }

  send(data: string | Buffer): void {
    if (!corked.has(this)) {
      const socket = this.socket;
      if (socket) {
        this.backlog = this.ws.bufferedAmount;
        socket.cork();
        corked.add(this);
        if (!uncorkScheduled) {
          uncorkScheduled = true;
          setImmediate(uncorkAll);
        }
      }
    }
    // Buffers go out as text frames without a copy: one encoding per event serves every socket.
    this.ws.send(data, { binary: false });
  }

  /**
   * Unsent bytes from earlier turns. What this turn corked is about to be
   * written and does not count against the connection: it is not behind yet.
   */
  get bufferedAmount(): number {
    return corked.has(this) ? this.backlog : this.ws.bufferedAmount;
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
}

type Tagged = WebSocket & { [kConnection]: WsConnection };

const connectionOf = (ws: WebSocket) => (ws as Tagged)[kConnection];

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const c = connectionOf(this);
  c.lastHeard = Date.now();
  if (isBinary) return c.session.close(closeCodes.protocolError, 'binary frames need parley.v1.msgpack');
  c.session.receive(data.toString());
}

function onPong(this: WebSocket): void {
  connectionOf(this).lastHeard = Date.now();
}

function onError(): void {
  // ws closes the socket itself (1009 for an oversized frame, 1002 for bad framing); 'close' follows.
}

export class WsServer {
  private readonly wss: WebSocketServer;
  private readonly live = new Set<WsConnection>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly gateway: Gateway;
  private readonly opts: WsOptions;
  private readonly onClose: (this: WebSocket) => void;

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
    const live = this.live;
    this.onClose = function (this: WebSocket) {
      const c = connectionOf(this);
      live.delete(c);
      c.session.closed();
    };
    server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.heartbeat = setInterval(() => this.beat(), opts.heartbeatMs);
    this.heartbeat.unref();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node hands over the socket without an error listener: a client that resets
    // while being refused must not take the process down.
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/v1/ws') return refuse(socket, 404, 'Not Found');
    if (this.gateway.isDraining) return refuse(socket, 503, 'Service Unavailable');
    if (!this.opts.isOriginAllowed(req.headers.origin, req.headers.host)) return refuse(socket, 403, 'Forbidden');
    const offered = req.headers['sec-websocket-protocol'];
    if (offered && !offered.split(',').some((p) => p.trim() === PROTOCOL_JSON)) {
      return refuse(socket, 400, 'Bad Request');
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws as Tagged));
  }

  private connected(ws: Tagged): void {
    const c = new WsConnection(ws);
    c.session = this.gateway.accept(c);
    ws[kConnection] = c;
    this.live.add(c);
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', onError);
    ws.on('close', this.onClose);
  }

  /** Pings every connection; ends those silent for two heartbeats. */
  private beat(): void {
    const cutoff = Date.now() - 2 * this.opts.heartbeatMs;
    for (const c of this.live) {
      if (c.lastHeard < cutoff) c.ws.terminate();
      else c.ws.ping();
    }
  }

  /**
   * Lets the close frames already written (1001 on drain) reach the clients,
   * waiting up to `graceMs` for their close handshakes, then cuts the rest.
   */
  async close(graceMs = 2_000): Promise<void> {
    clearInterval(this.heartbeat);
    uncorkAll();
    const deadline = Date.now() + graceMs;
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.live) c.ws.terminate();
    this.wss.close();
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** The load generator's client for the Socket.IO baseline: rooms, acks, no recovery after a drop. */
import { io, type Socket } from 'socket.io-client';
import type { BenchClient, ClientSpec, DriverOptions } from './driver.ts';

export function socketIoClient(spec: ClientSpec, opts: DriverOptions): BenchClient {
  let socket: Socket | null = null;
  let connected = false;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const s = io(opts.url, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { userId: spec.userId, rooms: [spec.conversation] },
        ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
      } as Parameters<typeof io>[1]);
      socket = s;
      s.on('message', (m: { room: string; body: string }) => opts.sink(spec.index, m.room, null, m.body));
      s.once('connect', () => {
        connected = true;
        resolve();
      });
      s.once('connect_error', reject);
      s.on('disconnect', () => {
        connected = false;
      });
    });
  return {
    spec,
    get connected() {
      return connected;
    },
    connect: open,
    resume: open,
    async send(n, body) {
      if (!socket || !connected) throw new Error('not connected');
      const r = await socket.timeout(30_000).emitWithAck('send', { room: spec.conversation, clientMsgId: `${spec.index}-${n}`, body });
      if (!r?.ok) throw new Error('send refused');
    },
    drop() {
      connected = false;
      (socket?.io.engine as unknown as { close(): void } | undefined)?.close();
    },
    close() {
      connected = false;
      socket?.close();
    },
  };
}

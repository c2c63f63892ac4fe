/**
 * The reference: the stack most teams build. Socket.IO rooms, the Redis
 * adapter for fan-out between nodes, one PostgreSQL INSERT per message, the
 * ack after the INSERT. It trusts the user id and rooms the client names in
 * its handshake (no token check), which only flatters it.
 *
 * Needs PostgreSQL (PG_URL, default postgres://postgres@127.0.0.1:5432/test)
 * and Redis (REDIS_URL, default redis://127.0.0.1:6379).
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Server } from 'socket.io';

const pool = new pg.Pool({ connectionString: process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 10 });
await pool.query(`CREATE TABLE IF NOT EXISTS baseline_messages (
  id BIGSERIAL PRIMARY KEY,
  room TEXT NOT NULL,
  sender TEXT NOT NULL,
  client_msg_id TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`);
await pool.query('TRUNCATE baseline_messages');

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub), transports: ['websocket'], serveClient: false });

io.on('connection', (socket) => {
  const { userId, rooms } = socket.handshake.auth as { userId: string; rooms: string[] };
  for (const room of rooms ?? []) void socket.join(room);
  socket.on('send', async (m: { room: string; clientMsgId: string; body: string }, ack: (r: unknown) => void) => {
    try {
      const r = await pool.query(
        'INSERT INTO baseline_messages (room, sender, client_msg_id, body) VALUES ($1, $2, $3, $4) RETURNING id',
        [m.room, userId, m.clientMsgId, m.body],
      );
      io.to(m.room).emit('message', { id: r.rows[0].id, room: m.room, sender: userId, clientMsgId: m.clientMsgId, body: m.body });
      ack({ ok: true, id: r.rows[0].id });
    } catch {
      ack({ ok: false });
    }
  });
});

http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const a = http.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
});

process.on('SIGTERM', () => {
  io.close();
  void Promise.allSettled([pool.end(), pub.quit(), sub.quit()]).then(() => process.exit(0));
});

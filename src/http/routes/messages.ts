/** Messages, reactions, the event log and read state of a conversation. */
import type { FastifyInstance } from 'fastify';
import { emoji } from '../../protocol/fields.ts';
import { EVENTS_DEFAULT_LIMIT, HISTORY_DEFAULT_LIMIT } from '../../protocol/limits.ts';
import { editBody, emptyBody, eventsQuery, messagesQuery, readBody, sendBody, seqParam } from '../../protocol/rest.ts';
import { parse } from '../../protocol/validate.ts';
import { body, params, query, type RouteContext } from '../context.ts';

export function messageRoutes(app: FastifyInstance, { chat }: RouteContext): void {
  const { messages, store } = chat;
  const seqOf = (p: Record<string, string>) => parse(seqParam, p.seq);

  app.post('/v1/conversations/:id/messages', async (req, reply) => {
    const { message, created } = await messages.send(req.userId, params(req).id!, body(req, sendBody));
    reply.status(created ? 201 : 200);
    return { message };
  });

  app.get('/v1/conversations/:id/messages', async (req) => {
    const q = query(req, messagesQuery);
    return messages.messages(req.userId, params(req).id!, q.beforeSeq ?? null, q.limit ?? HISTORY_DEFAULT_LIMIT);
  });

  app.patch('/v1/conversations/:id/messages/:seq', async (req) => {
    const p = params(req);
    const seq = seqOf(p);
    await messages.edit(req.userId, p.id!, seq, body(req, editBody).body);
    return store.getMessage(p.id!, seq);
  });

  app.delete('/v1/conversations/:id/messages/:seq', async (req, reply) => {
    const p = params(req);
    await messages.delete(req.userId, p.id!, seqOf(p));
    return reply.status(204).send();
  });

  for (const on of [true, false]) {
    const route = on ? app.put.bind(app) : app.delete.bind(app);
    route('/v1/conversations/:id/messages/:seq/reactions/:emoji', async (req, reply) => {
      const p = params(req);
      if (on) body(req, emptyBody);
      await messages.react(req.userId, p.id!, seqOf(p), parse(emoji, p.emoji), on);
      return reply.status(204).send();
    });
  }

  app.get('/v1/conversations/:id/events', async (req) => {
    const q = query(req, eventsQuery);
    return messages.events(req.userId, params(req).id!, q.afterSeq ?? 0, q.limit ?? EVENTS_DEFAULT_LIMIT);
  });

  app.post('/v1/conversations/:id/read', async (req, reply) => {
    await messages.read(req.userId, params(req).id!, body(req, readBody).seq);
    return reply.status(204).send();
  });
}

/** /v1/me and /v1/users: profiles, user search, blocks. */
import type { FastifyInstance } from 'fastify';
import { emptyBody, patchMeBody, usersQuery } from '../../protocol/rest.ts';
import { body, params, query, type RouteContext } from '../context.ts';

export function userRoutes(app: FastifyInstance, { chat }: RouteContext): void {
  app.get('/v1/me', async (req) => chat.users.get(req.userId));

  app.patch('/v1/me', async (req) => chat.users.setDisplayName(req.userId, body(req, patchMeBody).displayName));

  app.get('/v1/users', async (req) => {
    const q = query(req, usersQuery);
    return { items: await chat.users.search(q.q, q.limit ?? 20) };
  });

  app.get('/v1/users/:id', async (req) => chat.users.get(params(req).id!));

  app.post('/v1/users/:id/block', async (req, reply) => {
    body(req, emptyBody);
    await chat.users.setBlocked(req.userId, params(req).id!, true);
    return reply.status(204).send();
  });

  app.delete('/v1/users/:id/block', async (req, reply) => {
    await chat.users.setBlocked(req.userId, params(req).id!, false);
    return reply.status(204).send();
  });
}

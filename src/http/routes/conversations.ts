/** /v1/conversations: create, list, view, rename, members. */
import type { FastifyInstance } from 'fastify';
import { addMembersBody, createConversationBody, emptyBody, listConversationsQuery, patchConversationBody } from '../../protocol/rest.ts';
import { body, params, query, type RouteContext } from '../context.ts';

export function conversationRoutes(app: FastifyInstance, { chat }: RouteContext): void {
  const { conversations } = chat;

  app.post('/v1/conversations', async (req, reply) => {
    const { conversation, created } = await conversations.create(req.userId, body(req, createConversationBody));
    reply.status(created ? 201 : 200);
    return conversation;
  });

  app.get('/v1/conversations', async (req) => {
    const q = query(req, listConversationsQuery);
    return conversations.list(req.userId, q.limit ?? 50, q.cursor);
  });

  app.get('/v1/conversations/:id', async (req) => conversations.get(req.userId, params(req).id!));

  app.patch('/v1/conversations/:id', async (req) =>
    conversations.setTitle(req.userId, params(req).id!, body(req, patchConversationBody).title),
  );

  app.post('/v1/conversations/:id/members', async (req, reply) => {
    await conversations.addMembers(req.userId, params(req).id!, body(req, addMembersBody).userIds);
    return reply.status(204).send();
  });

  app.post('/v1/conversations/:id/join', async (req, reply) => {
    body(req, emptyBody);
    await conversations.join(req.userId, params(req).id!);
    return reply.status(204).send();
  });

  app.delete('/v1/conversations/:id/members/:userId', async (req, reply) => {
    const p = params(req);
    await conversations.removeMember(req.userId, p.id!, p.userId!);
    return reply.status(204).send();
  });
}

/** /v1/auth: register, login, refresh, logout. No access token needed. */
import type { FastifyInstance } from 'fastify';
import { loginBody, refreshBody, registerBody } from '../../protocol/rest.ts';
import { body, type RouteContext } from '../context.ts';

export function authRoutes(app: FastifyInstance, { chat }: RouteContext): void {
  app.post('/v1/auth/register', async (req, reply) => {
    const input = body(req, registerBody);
    reply.status(201);
    return chat.auth.register(input, req.ip);
  });

  app.post('/v1/auth/login', async (req) => {
    const input = body(req, loginBody);
    return chat.auth.login(input.username, input.password, req.ip);
  });

  app.post('/v1/auth/refresh', async (req) => chat.auth.refresh(body(req, refreshBody).refreshToken));

  app.post('/v1/auth/logout', async (req, reply) => {
    await chat.auth.logout(body(req, refreshBody).refreshToken);
    return reply.status(204).send();
  });
}

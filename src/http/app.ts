/** The REST side of a node: Fastify with Parley's error format, origin policy and auth hook. */
import cors from '@fastify/cors';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Chat } from '../chat/chat.ts';
import { forbidden, notFound, unauthorized } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { sendError, toHttpError } from './errors.ts';
import { authRoutes } from './routes/auth.ts';
import { conversationRoutes } from './routes/conversations.ts';
import { messageRoutes } from './routes/messages.ts';
import { opsRoutes } from './routes/ops.ts';
import { userRoutes } from './routes/users.ts';
import { webRoutes } from './web.ts';

export interface HttpOptions {
  chat: Chat;
  metrics: Metrics;
  logger: Logger;
  bodyLimit: number;
  trustProxy: boolean | string[];
  isOriginAllowed: (origin: string | undefined, host: string | undefined) => boolean;
  ready: () => Promise<boolean>;
}

export async function buildHttp(opts: HttpOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger as unknown as FastifyBaseLogger,
    // A line per request costs more than the request on the hot path; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    trustProxy: opts.trustProxy,
    // Route ids are short; anything longer is not ours.
    routerOptions: { maxParamLength: 200 },
    // Requests already on a connection while the node drains are served, not refused with Fastify's own body.
    return503OnClosing: false,
  });

  // An empty body is "no body" (POST …/join sent with a JSON content type);
  // anything else goes through Fastify's parser, which guards against prototype poisoning.
  const json = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, text, done) => {
    if (text === '' || text === undefined) return done(null, undefined);
    json(req, text as string, done);
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err);
    if (e.code === 'internal') req.log.error({ err }, 'request failed');
    return sendError(reply, e);
  });
  // Unknown non-API GETs get the web client's index.html (see web.ts); everything else the JSON 404.
  let webFallback: (req: FastifyRequest, reply: FastifyReply) => boolean = () => false;
  app.setNotFoundHandler((req, reply) => {
    if (webFallback(req, reply)) return reply;
    return sendError(reply, notFound('route'));
  });

  app.addHook('onRequest', async (req) => {
    if (!opts.isOriginAllowed(req.headers.origin, req.headers.host)) {
      throw forbidden('origin not allowed');
    }
  });
  await app.register(cors, {
    origin: (origin, cb) => cb(null, opts.isOriginAllowed(origin, undefined) ? (origin ?? false) : false),
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    exposedHeaders: ['Retry-After'],
    maxAge: 600,
  });

  opsRoutes(app, { metrics: opts.metrics, ready: opts.ready });
  webFallback = await webRoutes(app);
  authRoutes(app, { chat: opts.chat });

  await app.register(async (authed) => {
    authed.decorateRequest('userId', '');
    authed.addHook('onRequest', async (req) => {
      const header = req.headers.authorization;
      if (!header?.startsWith('Bearer ')) throw unauthorized();
      req.userId = (await opts.chat.auth.authenticate(header.slice(7).trim())).userId;
    });
    userRoutes(authed, { chat: opts.chat });
    conversationRoutes(authed, { chat: opts.chat });
    messageRoutes(authed, { chat: opts.chat });
  });

  return app;
}

/** Health, readiness and metrics: what load balancers and Prometheus poll. */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics.ts';

export interface OpsContext {
  metrics: Metrics;
  /** Resolves when the node can serve: storage and bus answer and it is not draining. */
  ready: () => Promise<boolean>;
}

export function opsRoutes(app: FastifyInstance, ctx: OpsContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const ok = await ctx.ready().catch(() => false);
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable' });
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('Content-Type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}

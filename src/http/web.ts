/**
 * The web client: serves the files `vite build web` wrote to web/dist at `/`,
 * and index.html for any other GET that is not an API path and accepts HTML
 * (a browser navigating), so the app's own paths survive a reload. Without web/dist, `/` says how to build it. The
 * API (/v1, /healthz, /readyz, /metrics) is untouched: its unknown paths stay
 * JSON 404s.
 */
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const isApiPath = (url: string): boolean => /^\/(v1|healthz|readyz|metrics)(\/|\?|$)/.test(url);

/** Registers the static files; returns the fallback the app's not-found handler calls (true when it answered). */
export async function webRoutes(
  app: FastifyInstance,
  root: string = WEB_DIST,
): Promise<(req: FastifyRequest, reply: FastifyReply) => boolean> {
  const built = existsSync(`${root}/index.html`);
  if (!built) {
    app.get('/', (_req, reply) => {
      reply.code(404).type('text/plain; charset=utf-8').send('The web client is not built. Run `npm run build:web`, then reload.\n');
    });
    return () => false;
  }
  await app.register(fastifyStatic, { root, prefix: '/', wildcard: false, index: ['index.html'] });
  return (req, reply) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || isApiPath(req.url)) return false;
    // Only a browser navigating (Accept: text/html) gets the app; API clients keep the JSON 404.
    if (!req.headers.accept?.includes('text/html')) return false;
    // Assets are hashed; a missing one is a 404, not the app.
    if (req.url.startsWith('/assets/')) return false;
    reply.header('cache-control', 'no-cache').sendFile('index.html');
    return true;
  };
}

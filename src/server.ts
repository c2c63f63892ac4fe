/**
 * Composes one Parley node from its configuration: store, bus, chat services,
 * REST and WebSocket, and the drain on shutdown. Tests start nodes through
 * this too, on port 0.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Bus } from './bus/bus.ts';
import { LocalBus } from './bus/local.ts';
import { createChat, type Chat } from './chat/chat.ts';
import { busKind, storeKind, type Config } from './config.ts';
import { Gateway } from './gateway/gateway.ts';
import { WsServer } from './gateway/ws-server.ts';
import { buildHttp } from './http/app.ts';
import { originPolicy } from './http/origins.ts';
import { createLogger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import type { Store } from './store/store.ts';
import { SqliteStore } from './store/sqlite/sqlite-store.ts';

export interface ParleyServer {
  /** http://host:port of the listening node. */
  url: string;
  port: number;
  config: Config;
  chat: Chat;
  gateway: Gateway;
  metrics: Metrics;
  http: FastifyInstance;
  /** Stops taking work, commits what is pending, closes sockets with 1001, and releases everything. */
  close(): Promise<void>;
}

/** JWT_SECRET, or one generated on first start and kept in DATA_DIR so restarts keep tokens valid. */
function jwtSecret(config: Config): string {
  if (config.JWT_SECRET) return config.JWT_SECRET;
  const file = join(config.DATA_DIR, 'jwt-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const secret = randomBytes(48).toString('base64url');
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  }
}

/** The store DATABASE_URL names; networked adapters are loaded only when used. */
export async function openStore(config: Config, opts: { migrate?: boolean } = {}): Promise<Store> {
  if (storeKind(config) === 'postgres') {
    const { PostgresStore } = await import('./store/postgres/postgres-store.ts');
    return PostgresStore.open({ url: config.DATABASE_URL!, max: config.DATABASE_POOL_SIZE, migrate: opts.migrate ?? config.MIGRATE });
  }
  mkdirSync(config.DATA_DIR, { recursive: true });
  return new SqliteStore({ path: join(config.DATA_DIR, 'parley.db'), synchronous: config.SQLITE_SYNCHRONOUS });
}

/** The bus BUS_URL names. */
export async function openBus(config: Config, onError: (err: unknown) => void): Promise<Bus> {
  const presence = { presenceTtlMs: config.PRESENCE_TTL_MS, heartbeatMs: Math.floor(config.PRESENCE_TTL_MS / 3), onError };
  switch (busKind(config)) {
    case 'redis': {
      const { RedisBus } = await import('./bus/redis.ts');
      return RedisBus.connect({ url: config.BUS_URL!, ...presence });
    }
    case 'nats': {
      const { NatsBus } = await import('./bus/nats.ts');
      return NatsBus.connect({ url: config.BUS_URL!, ...presence });
    }
    default:
      return new LocalBus();
  }
}

export async function startServer(config: Config, logger: Logger = createLogger(config.LOG_LEVEL)): Promise<ParleyServer> {
  const onError = (err: unknown) => logger.error({ err }, 'background task failed');
  const store = await openStore(config);
  const bus = await openBus(config, onError).catch(async (err) => {
    await store.close();
    throw err;
  });
  const metrics = createMetrics();
  const chat = createChat({ config, jwtSecret: jwtSecret(config), store, bus, metrics, onPublishError: onError });
  const gateway = new Gateway(chat, config, metrics, onError);
  const isOriginAllowed = originPolicy(config.ALLOWED_ORIGINS);

  let draining = false;
  const http = await buildHttp({
    chat,
    metrics,
    logger,
    bodyLimit: config.MAX_BODY_BYTES,
    trustProxy: config.TRUST_PROXY,
    isOriginAllowed,
    ready: async () => {
      if (draining) return false;
      await Promise.all([store.ping(), bus.ping()]);
      return true;
    },
  });
  await http.listen({ port: config.PORT, host: config.HOST });
  const ws = new WsServer(http.server, gateway, {
    maxPayload: config.MAX_FRAME_BYTES,
    heartbeatMs: config.HEARTBEAT_MS,
    isOriginAllowed,
  });
  const sweeper = setInterval(() => {
    chat.auth.sweep();
    chat.messages.sweep();
    gateway.sweep();
  }, 60_000);
  sweeper.unref();

  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  let closing: Promise<void> | null = null;

  return {
    url: `http://${host}:${port}`,
    port,
    config,
    chat,
    gateway,
    metrics,
    http,
    close() {
      closing ??= (async () => {
        draining = true;
        gateway.beginDrain();
        clearInterval(sweeper);
        await chat.committer.flush();
        await gateway.drain();
        await ws.close(Math.min(2_000, config.SHUTDOWN_TIMEOUT_MS / 4));
        await http.close();
        await chat.committer.flush();
        await bus.close();
        await store.close();
      })();
      return closing;
    },
  };
}

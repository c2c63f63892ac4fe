/**
 * One typed configuration, read from the environment and `--kebab-case` flags
 * (a flag wins over the environment) and validated once at start.
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const schema = z.object({
  PORT: int(0, 65_535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  /** Unset (or `sqlite:`): the embedded SQLite file in DATA_DIR. `postgres://…`: PostgreSQL. */
  DATABASE_URL: z
    .string()
    .optional()
    .refine((v) => v === undefined || /^(sqlite:|postgres(ql)?:\/\/)/.test(v), 'postgres://… (or unset for the embedded store)'),
  /** Unset (or `local:`): the in-process bus of one node. `redis://…` or `nats://…` for many nodes. */
  BUS_URL: z
    .string()
    .optional()
    .refine((v) => v === undefined || /^(local:|rediss?:\/\/|nats:\/\/)/.test(v), 'redis://…, nats://… (or unset for the in-process bus)'),
  /** Run the store's migrations at start (PostgreSQL; the embedded store always migrates). */
  MIGRATE: z
    .enum(['0', '1', 'true', 'false'])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  /** PostgreSQL connections per node. */
  DATABASE_POOL_SIZE: int(1, 1_000).default(10),
  /**
   * Behind a reverse proxy: `true` (trust X-Forwarded-For from any hop) or
   * comma-separated addresses/CIDRs of the proxies. Per-address
   * limits (logins, registrations) then key on the client, not the proxy.
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v): boolean | string[] =>
      v === 'true' ? true : v === 'false' ? false : v.split(',').map((s) => s.trim()).filter(Boolean),
    ),
  /** Node processes on this machine (node:cluster); more than one needs PostgreSQL and Redis or NATS. */
  WORKERS: int(1, 256).default(1),
  /** Networked buses: how long a node's connections count as online without a refresh (a dead node's users go offline after this). */
  PRESENCE_TTL_MS: int(1_000, 60_000).default(15_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Comma-separated origins allowed besides the server's own; `*` allows any. */
  ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean)),
  JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  ACCESS_TOKEN_TTL: int(1, 86_400 * 7).default(900),
  REFRESH_TOKEN_TTL: int(60, 86_400 * 365).default(86_400 * 30),
  /** Messages per second per user; bursts of twice that. 0 turns the limit off. */
  SEND_RATE_LIMIT: int(0, 1_000_000).default(50),
  /** Failed logins per address per minute. 0 turns the limit off. */
  LOGIN_RATE_LIMIT: int(0, 1_000_000).default(20),
  /** Registrations per address per minute. 0 turns the limit off. */
  REGISTER_RATE_LIMIT: int(0, 1_000_000).default(30),
  /** log2 of scrypt's N. OWASP's current advice is 17 (N = 2^17, r = 8, p = 1). */
  SCRYPT_COST: int(10, 20).default(17),
  HEARTBEAT_MS: int(100, 600_000).default(25_000),
  HELLO_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** Largest WebSocket frame accepted, in bytes. */
  MAX_FRAME_BYTES: int(1024, 16 * 1024 * 1024).default(65_536),
  /** Largest REST body accepted, in bytes. */
  MAX_BODY_BYTES: int(32 * 1024, 16 * 1024 * 1024).default(65_536),
  /** Unsent bytes a connection may hold before it is closed with 4009. */
  SEND_BUFFER_LIMIT: int(16 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  /** How long after a user's last connection closes they are shown offline. */
  PRESENCE_GRACE_MS: int(0, 4_000).default(2_000),
  /** FULL: every acknowledged write survives power loss. NORMAL: survives a process crash only. */
  SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
  /** Most mutations written in one transaction. */
  COMMIT_BATCH_SIZE: int(1, 10_000).default(512),
  /** Extra time a batch waits to gather more writes; 0 = only what arrived in the same turn of the event loop. */
  COMMIT_WINDOW_MS: int(0, 1_000).default(0),
  /** Time a draining node gives itself before it exits regardless. */
  SHUTDOWN_TIMEOUT_MS: int(100, 9_500).default(8_000),
});

export type Config = z.infer<typeof schema>;

export const storeKind = (c: Config): 'sqlite' | 'postgres' =>
  c.DATABASE_URL && /^postgres(ql)?:/.test(c.DATABASE_URL) ? 'postgres' : 'sqlite';
export const busKind = (c: Config): 'local' | 'redis' | 'nats' =>
  c.BUS_URL?.startsWith('redis') ? 'redis' : c.BUS_URL?.startsWith('nats:') ? 'nats' : 'local';
export const configKeys = Object.keys(schema.shape) as (keyof Config)[];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `--data-dir` ↔ `DATA_DIR`. */
export const flagToKey = (flag: string) => flag.replace(/-/g, '_').toUpperCase();

/**
 * Builds the config from `env` overlaid with `flags`. Throws ConfigError with one
 * readable line naming every bad setting.
 */
export function loadConfig(env: Record<string, string | undefined>, flags: Record<string, string> = {}): Config {
  const input: Record<string, string> = {};
  for (const key of configKeys) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  for (const [flag, value] of Object.entries(flags)) {
    const key = flagToKey(flag);
    if (!(configKeys as string[]).includes(key)) throw new ConfigError(`unknown option --${flag}`);
    input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const config = parsed.data;
  if (storeKind(config) === 'postgres' && !config.JWT_SECRET) {
    // A secret generated per node would make each node refuse the others' tokens.
    throw new ConfigError('invalid configuration: JWT_SECRET is required with DATABASE_URL=postgres://… (every node must share it)');
  }
  if (config.WORKERS > 1 && (storeKind(config) === 'sqlite' || busKind(config) === 'local')) {
    throw new ConfigError(
      'invalid configuration: WORKERS above 1 needs DATABASE_URL=postgres://… and BUS_URL=redis://… or nats://… (the in-process bus cannot reach other processes)',
    );
  }
  return config;
}

/** A config for tests and tools: defaults, overridden by `overrides`. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}

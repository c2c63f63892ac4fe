/**
 * PostgreSQL schema, applied as numbered migrations recorded in
 * `parley_migrations`. Append new migrations; never edit a released one.
 *
 * `migrate` runs every pending step in ONE transaction under a transaction-level
 * advisory lock, so several nodes starting at once apply each step exactly once:
 * the others wait for the lock, then find nothing left to do.
 *
 * Types: seqs and times are BIGINT (milliseconds since the epoch), read back as
 * JS numbers (see database.ts). Ids and search keys use the "C" collation, so
 * ordering and prefix ranges compare code points byte-wise, as SQLite does,
 * whatever the database's default collation.
 */
import type { Queryable, Sql } from './database.ts';

export const migrations: string[] = [
  `
  CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    display_name_key TEXT COLLATE "C" NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT
  );
  CREATE INDEX users_display_name_key ON users (display_name_key);

  CREATE TABLE blocks (
    blocker_id TEXT COLLATE "C" NOT NULL,
    blocked_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
  );

  CREATE TABLE logins (
    id TEXT COLLATE "C" PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT false
  );
  CREATE TABLE refresh_tokens (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    login_id TEXT COLLATE "C" NOT NULL REFERENCES logins (id),
    expires_at BIGINT NOT NULL,
    rotated BOOLEAN NOT NULL DEFAULT false
  );
  CREATE INDEX refresh_tokens_login ON refresh_tokens (login_id);

  CREATE TABLE conversations (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT,
    public BOOLEAN NOT NULL,
    direct_key TEXT COLLATE "C" UNIQUE,
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );

  CREATE TABLE members (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id),
    user_id TEXT COLLATE "C" NOT NULL,
    role TEXT NOT NULL,
    last_read_seq BIGINT NOT NULL DEFAULT 0,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
  );
  CREATE INDEX members_user ON members (user_id);

  -- ref_seq: the message an event is about, so erasing a message's text finds its events by index.
  -- data is jsonb so that erasure is one jsonb update; clients must not rely on key order.
  CREATE TABLE events (
    conversation_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    ref_seq BIGINT,
    data JSONB NOT NULL,
    PRIMARY KEY (conversation_id, seq)
  );
  CREATE INDEX events_ref ON events (conversation_id, ref_seq) WHERE ref_seq IS NOT NULL;

  -- The UNIQUE triple is what makes sends idempotent across nodes.
  CREATE TABLE messages (
    conversation_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT COLLATE "C" NOT NULL UNIQUE,
    sender_id TEXT COLLATE "C" NOT NULL,
    client_msg_id TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    reply_to_seq BIGINT,
    attachments JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    edited_at BIGINT,
    deleted BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, sender_id, client_msg_id)
  );

  CREATE TABLE reactions (
    conversation_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    emoji TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq, emoji, user_id)
  );
  `,
];

/** The advisory lock that serializes migrations across nodes: 'parley' in ASCII. */
const MIGRATION_LOCK = 0x7061726c6579;

export interface MigrateResult {
  /** Steps this call applied (0 when another node got there first). */
  applied: number;
  /** The schema version now in force. */
  version: number;
}

/** The schema version recorded in the database: 0 before the first migration. */
async function schemaVersion(sql: Queryable): Promise<number> {
  const [table] = await sql<{ present: boolean }[]>`SELECT to_regclass('parley_migrations') IS NOT NULL AS present`;
  if (!table!.present) return 0;
  const [row] = await sql<{ version: number }[]>`SELECT coalesce(max(version), 0) AS version FROM parley_migrations`;
  return row!.version;
}

const tooNew = (version: number) =>
  new Error(`the database schema is at version ${version}, newer than this build knows (${migrations.length}); upgrade parley`);

/** Fails, saying what to do, unless the database has exactly the schema this build expects. */
export async function checkSchema(sql: Sql): Promise<void> {
  const version = await schemaVersion(sql);
  if (version > migrations.length) throw tooNew(version);
  if (version < migrations.length) {
    throw new Error(
      `the database schema is at version ${version}, this build needs ${migrations.length}: run \`parley migrate\` (or start with MIGRATE=1)`,
    );
  }
}

/** Applies every pending migration; safe to call from several nodes at once. */
export async function migrate(sql: Sql): Promise<MigrateResult> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    // Under the lock: whoever gets it first creates the table, the others find it.
    const current = await schemaVersion(tx);
    if (current > migrations.length) throw tooNew(current);
    if (current === 0) {
      await tx`
        CREATE TABLE IF NOT EXISTS parley_migrations (
          version INTEGER PRIMARY KEY,
          applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )`;
    }
    for (let v = current; v < migrations.length; v++) {
      await tx.unsafe(migrations[v]!);
      await tx`INSERT INTO parley_migrations (version) VALUES (${v + 1})`;
    }
    return { applied: migrations.length - current, version: migrations.length };
  });
}

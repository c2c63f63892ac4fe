/**
 * The connection pool (porsager/postgres) with Parley's type mapping, and the
 * translation of driver errors that are the caller's fault into ParleyErrors.
 */
import postgres from 'postgres';
import { invalid } from '../../errors.ts';

/**
 * BIGINT (int8, oid 20) columns hold seqs and millisecond times, all far below
 * 2^53: read them, and count(*), as JS numbers rather than the driver's strings.
 */
const bigintAsNumber = {
  to: 20,
  from: [20],
  serialize: (x: number) => String(x),
  parse: (x: string) => Number(x),
} satisfies postgres.PostgresType<number>;

export function connect(url: string, max: number) {
  return postgres(url, {
    max,
    types: { bigint: bigintAsNumber },
    connection: { application_name: 'parley' },
    // An undefined value would fail a statement in the driver, before it reaches the
    // server; in a pipelined batch the COMMIT behind it would then keep the rest.
    // As NULL it reaches the server, where a NOT NULL column aborts the transaction.
    transform: { undefined: null },
    // The pool is shared by every request; a notice is never something a caller can act on.
    onnotice: () => {},
  });
}

export type Sql = ReturnType<typeof connect>;
export type ReservedSql = Awaited<ReturnType<Sql['reserve']>>;
/** The pool or a transaction: anything that runs a tagged-template query. */
export type Queryable = Sql | postgres.TransactionSql<{ bigint: number }>;

/** SQLSTATE of a unique_violation. */
export const UNIQUE_VIOLATION = '23505';

export const sqlState = (err: unknown): string | undefined =>
  err instanceof postgres.PostgresError ? err.code : undefined;

/** Driver errors that mean the connection itself is gone (postgres.js codes, socket errors, FATAL from the server). */
const CONNECTION_ERRORS = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

export function isConnectionError(err: unknown): boolean {
  if (err instanceof postgres.PostgresError) return err.severity === 'FATAL' || err.severity === 'PANIC';
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; syscall?: unknown };
  return (typeof e.code === 'string' && CONNECTION_ERRORS.has(e.code)) || typeof e.syscall === 'string';
}

/**
 * PostgreSQL's text cannot hold U+0000, and its JSON cannot hold a lone UTF-16
 * surrogate. SQLite stores both, so these are the only inputs where the two
 * adapters differ: here they are refused as invalid instead of failing a query.
 */
export function storable(s: string): boolean {
  return !s.includes('\0') && s.isWellFormed();
}

/** Runs a driver call, answering input PostgreSQL cannot store (a NUL) as invalid_request. */
export async function run<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    // 22021: invalid byte sequence (a NUL in a text parameter); 22P05: the same inside JSON.
    const code = sqlState(err);
    if (code === '22021' || code === '22P05') throw invalid('text may not contain NUL characters');
    throw err;
  }
}

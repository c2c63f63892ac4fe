/** Starts a real Parley node on port 0 with its own data directory, for one test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer, type ParleyServer } from '../../src/server.ts';

export interface TestServer extends ParleyServer {
  dataDir: string;
  /** Closes the node and deletes its data. */
  stop(): Promise<void>;
}

/** Settings that keep tests fast: cheap scrypt, no limits in the way unless a test sets them. */
export const fastSettings: Partial<Config> = {
  PORT: 0,
  LOG_LEVEL: 'silent',
  SCRYPT_COST: 10,
  SEND_RATE_LIMIT: 0,
  LOGIN_RATE_LIMIT: 0,
  REGISTER_RATE_LIMIT: 0,
  PRESENCE_GRACE_MS: 50,
  SQLITE_SYNCHRONOUS: 'NORMAL',
};

export async function startTestServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  const dataDir = overrides.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'parley-test-'));
  const config = testConfig({ ...fastSettings, DATA_DIR: dataDir, ...overrides });
  const server = await startServer(config, createLogger(config.LOG_LEVEL));
  return Object.assign(server, {
    dataDir,
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

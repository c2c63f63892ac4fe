/** Starts the servers a bench run measures: Parley embedded, or the Socket.IO baseline. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidsNamed } from './proc-stats.ts';

export interface RunningServer {
  kind: 'parley' | 'baseline';
  url: string;
  /** Processes whose CPU and memory count as the server's. */
  pids: () => number[];
  stop: () => Promise<void>;
}

const root = fileURLToPath(new URL('..', import.meta.url));

function waitForLine(proc: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${err || out}`)), 30_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.stderr!.on('data', (d) => (err += d));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${err}`));
    });
  });
}

function stopper(proc: ChildProcess, cleanup: () => void): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null) {
        cleanup();
        return resolve();
      }
      proc.once('exit', () => {
        cleanup();
        resolve();
      });
      proc.kill('SIGTERM');
    });
}

export async function startParley(env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const proc = spawn(process.execPath, [join(root, 'src/cli.ts'), 'serve'], {
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      SCRYPT_COST: '10',
      SEND_RATE_LIMIT: '0',
      LOGIN_RATE_LIMIT: '0',
      REGISTER_RATE_LIMIT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await waitForLine(proc, /"url":"([^"]+)","dataDir"/, 'parley');
  return {
    kind: 'parley',
    url,
    pids: () => [proc.pid!],
    stop: stopper(proc, () => rmSync(dataDir, { recursive: true, force: true })),
  };
}

export async function startBaseline(): Promise<RunningServer> {
  const proc = spawn(process.execPath, [join(root, 'bench/baselines/socketio/server.ts')], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await waitForLine(proc, /listening on (\S+)/, 'the Socket.IO baseline');
  return {
    kind: 'baseline',
    url,
    // The usual stack's cost includes its database and its Redis.
    pids: () => [proc.pid!, ...pidsNamed(['postgres', 'redis-server'])],
    stop: stopper(proc, () => {}),
  };
}

/** Runs `parley serve` as a real child process, for crash, drain and start-up tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { until } from './client.ts';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<number | string>;
}

/** Runs the CLI with `args` and `env` added to a clean environment; resolves when it exits. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `parley serve` on a free port and resolves once it logs that it is listening. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [cli, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      LOG_LEVEL: 'info',
      SCRYPT_COST: '10',
      SEND_RATE_LIMIT: '0',
      LOGIN_RATE_LIMIT: '0',
      REGISTER_RATE_LIMIT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await until(
    () => {
      if (proc.exitCode !== null) throw new Error(`server exited early: ${stderr}`);
      const line = stdout.split('\n').find((l) => l.includes('parley is listening'));
      return line ? (JSON.parse(line).url as string) : undefined;
    },
    'the server to listen',
    15_000,
  );
  return { proc, url, stdout: () => stdout, stderr: () => stderr, exited };
}

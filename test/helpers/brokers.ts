/** Broker processes owned by one test (never the shared ones): started, killed and restarted by pid. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A broker process owned by this test: started, killed and restarted by pid. */
export class Broker {
  private child: ChildProcess | null = null;
  private readonly command: string;
  private readonly args: string[];
  private readonly readyLine: RegExp;

  constructor(command: string, args: string[], readyLine: RegExp) {
    this.command = command;
    this.args = args;
    this.readyLine = readyLine;
  }

  async start(): Promise<void> {
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.command} not ready after 10 s:\n${log}`)), 10_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (this.readyLine.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.command} exited with ${code}:\n${log}`));
      });
    });
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}


/** A private redis-server on `port`, keeping nothing on disk. */
export const redisBroker = (port: number, dir: string) =>
  new Broker('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], /Ready to accept connections/);

/** A private nats-server with JetStream on `port`. */
export const natsBroker = (port: number, dir: string) =>
  new Broker('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], /Server is ready/);

/**
 * `parley serve --workers N`: N node processes on one machine sharing the
 * listening port (node:cluster). Each worker is a full node; they meet through
 * the networked store and bus, exactly as nodes on different machines do, so a
 * client may reconnect to any of them.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { openStore } from './server.ts';

export async function runPrimary(config: Config, logger: Logger): Promise<void> {
  if (config.MIGRATE) {
    // Once, here, rather than racing in every worker.
    const store = await openStore(config, { migrate: true });
    await store.close();
  }
  let stopping = false;
  let drainFailed = false;
  const fork = (): Worker => cluster.fork({ WORKERS: '1', MIGRATE: '0' });
  for (let i = 0; i < config.WORKERS; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (code !== 0) drainFailed = true;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(drainFailed ? 1 : 0);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
    setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS + 1000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/**
 * The `parley` command: `serve` runs a node, `migrate` prepares the store.
 * Settings come from the environment and from `--kebab-case` flags.
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { ConfigError, configKeys, loadConfig, storeKind } from './config.ts';
import { createLogger } from './logger.ts';
import { runPrimary } from './cluster.ts';
import { openStore, startServer } from './server.ts';

const usage = `usage: parley <serve|migrate> [--port N] [--host H] [--data-dir DIR] [--<setting> VALUE]…
Every setting is also an environment variable: --data-dir is DATA_DIR. See README.md.`;

function fail(message: string): never {
  process.stderr.write(`parley: ${message}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const options = Object.fromEntries(
    configKeys.map((k) => [k.toLowerCase().replace(/_/g, '-'), { type: 'string' as const }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  } catch (err) {
    fail(`${(err as Error).message}\n${usage}`);
  }
  const { help, ...flags } = parsed.values;
  const command = parsed.positionals[0] ?? 'serve';
  if (help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  let config;
  try {
    config = loadConfig(process.env, flags as Record<string, string>);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }

  switch (command) {
    case 'migrate': {
      const store = await openStore(config, { migrate: true });
      await store.close();
      process.stdout.write(`parley: the ${storeKind(config)} store is up to date\n`);
      return;
    }
    case 'serve': {
      const logger = createLogger(config.LOG_LEVEL);
      if (config.WORKERS > 1 && cluster.isPrimary) return runPrimary(config, logger);
      const server = await startServer(config, logger).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') fail(`port ${config.PORT} on ${config.HOST} is already in use`);
        if (err.code === 'EACCES') fail(`not allowed to listen on ${config.HOST}:${config.PORT}`);
        throw err;
      });
      logger.info({ url: server.url, dataDir: config.DATA_DIR }, 'parley is listening');
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'draining');
        const force = setTimeout(() => {
          logger.error('drain took too long; exiting');
          process.exit(1);
        }, config.SHUTDOWN_TIMEOUT_MS);
        force.unref();
        server.close().then(
          () => {
            logger.info('stopped');
            process.exit(0);
          },
          (err) => {
            logger.error({ err }, 'drain failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      return;
    }
    default:
      fail(`unknown command '${command}'\n${usage}`);
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`parley: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

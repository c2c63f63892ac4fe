import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { runStoreContract } from '../contract/store.ts';

runStoreContract('SqliteStore', async () => {
  const path = join(tmpdir(), `parley-store-${randomUUID()}.db`);
  const store = new SqliteStore({ path });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(path + suffix, { force: true })));
    },
  };
});

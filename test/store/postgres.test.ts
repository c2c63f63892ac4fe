import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { runStoreContract } from '../contract/store.ts';
import { createTestDatabase } from '../helpers/postgres.ts';

runStoreContract('PostgresStore', async () => {
  const db = await createTestDatabase();
  const store = await PostgresStore.open({ url: db.url, migrate: true });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await db.drop();
    },
  };
});

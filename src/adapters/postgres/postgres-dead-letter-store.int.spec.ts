import { describe } from 'vitest';
import { dropSchema, POSTGRES_URL, randomSchema } from '../../../test/support/postgres.ts';
import { serviceAvailable } from '../../../test/support/services.ts';
import { deadLetterStoreContract } from '../../messaging/testing/dead-letter-store-contract.ts';
import { createPostgresDeadLetterStore, type PostgresDeadLetterStore } from './postgres-dead-letter-store.ts';

describe.runIf(await serviceAvailable('postgres'))('PostgreSQL dead-letter store', () => {
  deadLetterStoreContract('PostgreSQL', () => {
    const schema = randomSchema();
    let store: PostgresDeadLetterStore | undefined;
    const open = async (): Promise<PostgresDeadLetterStore> => {
      store = createPostgresDeadLetterStore({ url: POSTGRES_URL, schema });
      await store.start();
      return store;
    };
    return {
      open,
      reopen: open,
      async close() {
        await store?.close();
      },
      cleanup: () => dropSchema(schema),
    };
  });
});

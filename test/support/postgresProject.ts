import { assertPostgresReachable, dropLeftoverFolderDatabases } from './postgres.js';

/**
 * Global setup of the `postgres` vitest project: a clear failure when the server is missing,
 * and no databases left behind by tests that removed their data folder themselves.
 */
export async function setup(): Promise<void> {
  await assertPostgresReachable();
  await dropLeftoverFolderDatabases();
}

export async function teardown(): Promise<void> {
  await dropLeftoverFolderDatabases();
}

import { defineConfig } from 'vitest/config';

/**
 * The suite runs twice, once per database engine (issue 11): the `sqlite` project as the
 * service runs by default, and the `postgres` project with TEST_DATABASE=postgres, where every
 * service a test starts gets a PostgreSQL database of its own (test/support/service.ts).
 * Unit tests (`*.unit.test.ts`) are a project of their own, run once. Tests that are about one engine run once: SQLite-only files in `sqlite`,
 * files that need PostgreSQL by themselves in `postgres`. Within a file that runs in both,
 * a SQLite-only test says so with `skipIf(TEST_ON_POSTGRES)` (test/support/postgres.ts).
 */
const TESTS = ['test/**/*.test.ts'];
/** Rules checked without Redis, PostgreSQL or a browser: `npm run test:unit`, in seconds. */
const UNIT = ['test/**/*.unit.test.ts'];
/**
 * Run once, in `sqlite`: they start no service, or they are about SQLite itself, or what they
 * check does not depend on the engine (pages in Chromium; DKIM keys and DNS records).
 */
const SQLITE_ONLY = ['test/journeys/pages-browser.test.ts', 'test/journeys/journey-browser.test.ts', 'test/sending/sending-setup.test.ts'];
/** Run once, in `postgres`: they open PostgreSQL themselves (and compare it with SQLite). */
const POSTGRES_ONLY = ['test/platform/db-postgres.test.ts', 'test/platform/db-dialects.test.ts'];

export default defineConfig({
  test: {
    // Here and not only on the command line: each project extends these (`extends: true`).
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        // Said explicitly, so a TEST_DATABASE left in the shell cannot turn this run into the other.
        test: { name: 'sqlite', include: TESTS, exclude: [...UNIT, ...POSTGRES_ONLY], env: { TEST_DATABASE: 'sqlite' } },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: TESTS,
          exclude: [...UNIT, ...SQLITE_ONLY],
          env: { TEST_DATABASE: 'postgres' },
          globalSetup: ['test/support/postgresProject.ts'],
        },
      },
    ],
  },
});

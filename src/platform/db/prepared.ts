import type { Scope } from './database.js';

/**
 * Prepares a query once per handle instead of on every call. drizzle builds the SQL (and SQLite
 * compiles it) each time a query is written inline; on the signup path that was a third of the
 * CPU. Values go in through sql.placeholder(); run it with `await query(tx).execute({ ... })`.
 *
 * Always run a statement on the Scope you were given (see docs/architecture-db.md): the cache is
 * keyed by the Scope's handle, which is tied to one connection. On SQLite every transaction
 * shares the writer's handle; on PostgreSQL a transaction's handle is that of the pooled
 * connection it runs on (database.ts), so a statement built in an earlier transaction on the same
 * connection runs inside this one. (One built on the root handle would run on any pooled
 * connection, outside the caller's transaction.) PostgreSQL needs a statement name, unique in
 * the project: `<module>_<what>`.
 */
export function preparedPerHandle<Query>(build: (scope: Scope) => Query): (scope: Scope) => Query {
  const byHandle = new WeakMap<Scope['db'], Query>();
  return (scope) => {
    let query = byHandle.get(scope.db);
    if (query === undefined) {
      query = build(scope);
      byHandle.set(scope.db, query);
    }
    return query;
  };
}

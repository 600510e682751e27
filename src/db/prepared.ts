/**
 * Prepares a query once per Scope instead of on every call. drizzle builds the SQL and SQLite
 * compiles it each time a query is written inline; on the signup path that was a third of the
 * CPU. Values go in through sql.placeholder(); run it with `await query(tx).execute({ ... })`.
 *
 * Always run a statement on the Scope you were given (see docs/architecture-db.md). On SQLite
 * every transaction shares the writer's one Scope, so statements are built once; on PostgreSQL
 * each transaction is a new Scope, so they are built per transaction (one built on the root
 * would run on any pooled connection, outside the caller's transaction). PostgreSQL needs a
 * statement name, unique in the project: `<module>_<what>`.
 */
export function preparedPerHandle<Key extends object, Query>(build: (scope: Key) => Query): (scope: Key) => Query {
  const byScope = new WeakMap<Key, Query>();
  return (scope) => {
    let query = byScope.get(scope);
    if (query === undefined) {
      query = build(scope);
      byScope.set(scope, query);
    }
    return query;
  };
}

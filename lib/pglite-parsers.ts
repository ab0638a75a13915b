import type { PGlite, QueryOptions, Transaction } from "@electric-sql/pglite";

/**
 * The PGlite handed to pglite-prisma-adapter. The adapter passes its own result parsers (24 column
 * types) with every statement, and PGlite then copies its 318 parsers and those into a new object
 * for each one: ~130 µs of a ~220 µs statement (`npm run bench:pglite-parsers`). The adapter is the
 * instance's only user (the Prisma client and the migrations), so the first statement puts the
 * adapter's parsers into the instance and every statement then runs without them: each column gets
 * the same parser as before, without the per-statement copy. Options with other parsers pass as
 * they are; everything but `query` (and `query` inside `transaction`) is the instance itself.
 * The instance's parsers are changed for every caller: after the first Prisma statement a raw
 * `pglite.query` parses as the adapter does (int8, numeric, dates and JSON as strings). Nothing in
 * the hub queries the instance raw (lib/db.ts exposes it for dumping a data directory); the first
 * parsers seen through the wrapper are the adapter's, since only the adapter is handed the wrapper.
 */
export function withAdapterParsers(pglite: PGlite): PGlite {
  let adopted: QueryOptions["parsers"] | null = null;
  const lean = (options?: QueryOptions): QueryOptions | undefined => {
    if (!options?.parsers) return options;
    if (adopted === null) {
      Object.assign(pglite.parsers, options.parsers);
      adopted = options.parsers;
    }
    if (options.parsers !== adopted) return options;
    const { parsers: _, ...rest } = options;
    return rest;
  };
  const query =
    (db: PGlite | Transaction) =>
    <T>(sql: string, params?: unknown[], options?: QueryOptions) =>
      db.query<T>(sql, params, lean(options));
  const passThrough = <O extends object>(target: O, own: Partial<Record<keyof O, unknown>>) =>
    new Proxy(target, {
      get(t, prop) {
        if (Object.hasOwn(own, prop)) return own[prop as keyof O];
        const v = Reflect.get(t, prop, t);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  return passThrough(pglite, {
    query: query(pglite),
    transaction: <T>(fn: (tx: Transaction) => Promise<T>) => pglite.transaction((tx) => fn(passThrough(tx, { query: query(tx) }))),
  });
}

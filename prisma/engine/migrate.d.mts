// Types for migrate.mjs (plain JavaScript so that node runs it without tsx).
/** The SQL that takes a database from "every migration applied" to schema.prisma; "" when in sync. */
export function pendingSql(opts?: { shadow?: "pglite" | string; schemaPath?: string; migrationsDir?: string }): Promise<string>;

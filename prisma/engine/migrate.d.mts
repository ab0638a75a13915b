// Types for migrate.mjs (plain JavaScript so that node runs it without tsx).
/** The .prisma files of a schema path (a file, or every .prisma file under a folder), for the engine. */
export function schemaFiles(schemaPath?: string): Promise<{ path: string; content: string }[]>;
/** The SQL that takes a database from "every migration applied" to the schema (default prisma/schema/); "" when in sync. */
export function pendingSql(opts?: { shadow?: "pglite" | string; schemaPath?: string; migrationsDir?: string }): Promise<string>;

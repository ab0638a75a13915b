/** SQL that takes a database from "all migrations applied" to schema.prisma; "" when in sync. */
export function pendingSql(): Promise<string>;

// Types for the hand-written JS beside this file (kept as .mjs so the Prisma CLI can spawn the shim with plain node).
export const filters: { externalTables: string[]; externalEnums: string[] };
export interface AdapterFactory { close(): Promise<unknown>; [k: string]: unknown }
export function pgFactory(connectionString: string): Promise<AdapterFactory>;
export function pgliteFactory(db?: unknown): Promise<AdapterFactory>;
export interface SchemaEngine {
  applyMigrations(p: unknown): Promise<{ appliedMigrationNames: string[] }>;
  diagnoseMigrationHistory(p: unknown): Promise<unknown>;
  diff(p: unknown): Promise<{ stdout?: string; exitCode: number }>;
  free(): void;
}
export function openEngine(factory: AdapterFactory, datamodels?: [string, string][]): Promise<SchemaEngine>;
export function listMigrations(dir: string): Promise<unknown>;

// Types for wasm-engine.mjs (plain JavaScript so that the Prisma CLI can spawn the shim with node).
import type { PoolConfig } from "pg";

export const CHAR_OID: 18;
export const filters: { externalTables: string[]; externalEnums: string[] };
export class SchemaEnginePanic extends Error {}
/** A PostgreSQL URL as discrete pg fields (never connectionString). */
export function pgConfig(connectionString: string): PoolConfig & { host: string; port: number; database: string };
/** The three adapter-pg fixes, applied to one adapter (and the transactions it starts). */
export function fixPgAdapter<T>(adapter: T): T;
export interface AdapterFactory {
  provider: "postgres";
  adapterName: string;
  config?: PoolConfig & { database: string };
  close(): Promise<unknown>;
  connect(): Promise<any>;
  connectToShadowDb(): Promise<any>;
}
export function pgFactory(connectionString: string, opts?: { shadowDatabaseUrl?: string }): Promise<AdapterFactory>;
export function pgliteFactory(db?: unknown): Promise<AdapterFactory>;
export interface SchemaEngine {
  applyMigrations(p: unknown): Promise<{ appliedMigrationNames: string[] }>;
  diagnoseMigrationHistory(p: unknown): Promise<unknown>;
  diff(p: unknown): Promise<{ stdout?: string; exitCode: number }>;
  free(): void;
}
export function openEngine(factory: AdapterFactory, datamodels?: [string, string][]): Promise<SchemaEngine>;
export function listMigrations(dir: string): Promise<unknown>;

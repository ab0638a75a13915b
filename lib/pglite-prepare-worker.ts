// Worker thread of lib/pglite-prepare.ts: initdb in an empty directory, every migration applied with
// the WASM schema engine (recorded in _prisma_migrations as lib/db.ts migrate() does), the database
// closed, and only then the names of the migrations applied posted to the main thread.
import { mkdirSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { filters, listMigrations, openEngine, pgliteFactory } from "../prisma/engine/wasm-engine.mjs";

const { dataDir, migrationsDir } = workerData as { dataDir: string; migrationsDir: string };
mkdirSync(dataDir, { recursive: true });
const pglite = await PGlite.create({ dataDir });
let applied: string[];
try {
  const factory = await pgliteFactory(pglite);
  const engine = await openEngine(factory);
  try {
    ({ appliedMigrationNames: applied } = await engine.applyMigrations({ migrationsList: await listMigrations(migrationsDir), filters }));
  } finally {
    engine.free();
    await factory.close();
  }
} finally {
  await pglite.close();
}
parentPort!.postMessage({ applied });

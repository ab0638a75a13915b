// The embedded database's first start: initdb (PGlite.create on an empty directory, seconds of WASM
// work) and the migrations (the WASM schema engine) run on a worker thread while the main thread loads
// the hub's modules (also seconds of CPU). On one thread the two took turns (first start: modules
// done at 4.8 s, the database at 10.0 s); on two threads they overlap. The main thread then opens
// the prepared directory like on a restart (openDatabase in lib/db.ts, which finds nothing pending).
import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, "../prisma/migrations");

/** The data directory cannot be used as it is (start.ts prints the message as one line). */
export class DataDirProblem extends Error {}

/** No cluster in `dataDir` yet (PGlite writes PG_VERSION once initdb is done). */
export function isFreshDataDir(dataDir: string): boolean {
  return !existsSync(path.join(dataDir, "PG_VERSION"));
}

/**
 * Creates the cluster and applies every migration on a worker thread, in `<dataDir>.preparing`,
 * then renames it to `dataDir`: a start killed meanwhile (kill -9, a power cut) leaves no half-made
 * cluster where the next start would take it for a database; that start begins again. Resolves with
 * the migrations applied, once the worker has closed the database (only one PGlite may open a
 * directory). A failure (a migration's error, the worker dying) rejects with the worker's error.
 */
export async function prepareDataDirInWorker(dataDir: string): Promise<string[]> {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new DataDirProblem(`${dataDir} holds files but no database (no PG_VERSION): move it away, or point HUB_DATA_DIR elsewhere`);
  }
  const staging = `${dataDir}.preparing`;
  rmSync(staging, { recursive: true, force: true });
  const applied = await inWorker(staging);
  rmSync(dataDir, { recursive: true, force: true }); // an empty directory at most (checked above)
  renameSync(staging, dataDir);
  return applied;
}

function inWorker(dataDir: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    // The worker is this module's sibling with the same extension (.ts run by Node's type stripping or tsx).
    const worker = new Worker(new URL(`./pglite-prepare-worker${path.extname(import.meta.filename)}`, import.meta.url), {
      workerData: { dataDir, migrationsDir: MIGRATIONS_DIR },
    });
    // Posted once the database is closed; the worker is then stopped (the schema engine leaves a
    // timer that would keep the thread alive for another ~10 s, measured).
    worker.once("message", (m: { applied: string[] }) => {
      resolve(m.applied);
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`preparing the embedded database in ${dataDir} failed (the worker exited with code ${code})`)));
  });
}

// The embedded database's first start: initdb (PGlite.create on an empty directory, seconds of WASM
// work) and the migrations (the WASM schema engine) run on a worker thread while the main thread loads
// the hub's modules (also seconds of CPU). On one thread the two took turns (first start: modules
// done at 4.8 s, the database at 10.0 s); on two threads they overlap. The main thread then opens
// the prepared directory like on a restart (openDatabase in lib/db.ts, which finds nothing pending).
//
// Both steps give the same cluster every time for one PGlite version and one set of migrations, so
// it is made once and kept as a template (`npm install` makes it; else the first start that had to
// make one keeps a copy): a first start then copies the template (~40 MB, tens of milliseconds)
// instead of ~8 s of initdb and migrations. The demo seed is never in it: it runs on every first
// start, through the domain functions. HUB_PGLITE_TEMPLATE=off goes back to initdb every time.
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { readSetting } from "./config.ts";

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, "../prisma/migrations");
const ROOT = path.resolve(import.meta.dirname, "..");

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
export async function prepareDataDirInWorker(
  dataDir: string,
  template: string | null = templateDir(),
  copy: (from: string, to: string) => void = (from, to) => cpSync(from, to, { recursive: true }),
): Promise<{ applied: string[]; from: "template" | "initdb" }> {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new DataDirProblem(`${dataDir} holds files but no database (no PG_VERSION): move it away, or point HUB_DATA_DIR elsewhere`);
  }
  const staging = `${dataDir}.preparing`;
  rmSync(staging, { recursive: true, force: true });
  let applied: string[] = [];
  let from: "template" | "initdb" = "template";
  if (!(template && isTemplate(template) && copied(template, staging, copy))) {
    from = "initdb";
    applied = await inWorker(staging);
    if (template) keepAsTemplate(staging, template);
  }
  rmSync(dataDir, { recursive: true, force: true }); // an empty directory at most (checked above)
  renameSync(staging, dataDir);
  return { applied, from };
}

/**
 * The template for this PGlite version and these migrations (their names and contents hashed), or
 * null with HUB_PGLITE_TEMPLATE=off. A template never goes stale: a changed migration or another
 * PGlite is another directory (and the others are removed when it is kept).
 */
export function templateDir(setting = readSetting("HUB_PGLITE_TEMPLATE"), migrationsDir = MIGRATIONS_DIR): string | null {
  if (setting === "off") return null;
  const root = setting ? path.resolve(setting) : path.join(ROOT, "node_modules/.cache/coalition-hub");
  try {
    const h = createHash("sha256");
    h.update(JSON.parse(readFileSync(path.join(ROOT, "node_modules/@electric-sql/pglite/package.json"), "utf8")).version);
    for (const f of readdirSync(migrationsDir, { recursive: true, encoding: "utf8" }).sort()) {
      const file = path.join(migrationsDir, f);
      if (!f.endsWith(".sql") && !f.endsWith(".toml")) continue;
      h.update(`\0${f.split(path.sep).join("/")}\0`).update(readFileSync(file));
    }
    return path.join(root, `pglite-${h.digest("hex").slice(0, 16)}`);
  } catch {
    return null; // PGlite's version or a migration unreadable (another layout): no template, the start makes its cluster
  }
}

/**
 * Copies the template; false if that failed (a damaged template, or another checkout sharing the
 * cache removed it meanwhile): the partial copy and the template are removed, so this start makes
 * the cluster and keeps a sound template again.
 */
function copied(template: string, staging: string, copy: (from: string, to: string) => void): boolean {
  try {
    copy(template, staging);
    return true;
  } catch {
    rmSync(staging, { recursive: true, force: true });
    rmSync(template, { recursive: true, force: true });
    return false;
  }
}

/** A finished template (it appears only by rename, so a directory with PG_VERSION is whole). */
const isTemplate = (dir: string) => existsSync(path.join(dir, "PG_VERSION"));

/**
 * Keeps a copy of a freshly made, closed cluster as the template: copied beside it, then renamed in
 * (two starts at once: one rename wins, the other copy is removed). Never fails the start: a
 * read-only cache only means the next first start makes its cluster again.
 */
export function keepAsTemplate(cluster: string, template: string): void {
  const building = `${template}.building-${process.pid}`;
  try {
    mkdirSync(path.dirname(template), { recursive: true });
    rmSync(building, { recursive: true, force: true });
    cpSync(cluster, building, { recursive: true });
    renameSync(building, template);
    for (const other of readdirSync(path.dirname(template))) {
      const p = path.join(path.dirname(template), other);
      if (/^pglite-[0-9a-f]{16}$/.test(other) && p !== template) rmSync(p, { recursive: true, force: true });
    }
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
}

/** Makes the template if there is none (`npm install` runs this: scripts/pglite-template.ts). */
export async function buildTemplate(template = templateDir()): Promise<{ template: string | null; built: boolean }> {
  if (!template || isTemplate(template)) return { template, built: false };
  const staging = `${template}.making-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    await inWorker(staging);
    keepAsTemplate(staging, template);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { template, built: isTemplate(template) };
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

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
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { CACHE_DIR } from "./compile-cache.ts";
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
  if (!(template && isUsableTemplate(template) && copied(template, staging, copy))) {
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
  if (setting && ["off", "0", "false", "no"].includes(setting.trim().toLowerCase())) return null;
  const root = setting ? path.resolve(setting) : CACHE_DIR;
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

/** Written last into a template before it is renamed in: its files and bytes, checked after each copy. */
const MANIFEST = "coalition-hub-template.json";

interface Manifest {
  files: number;
  bytes: number;
}

/** Regular files and their bytes under `dir` (the manifest itself not counted). */
function measure(dir: string): Manifest {
  let files = 0;
  let bytes = 0;
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    if (f === MANIFEST) continue;
    const st = lstatSync(path.join(dir, f));
    if (st.isFile()) {
      files++;
      bytes += st.size;
    }
  }
  return { files, bytes };
}

/**
 * A template this process may use: whole (its manifest, written last, is there; it appeared by
 * rename), owned by this user and writable by nobody else (a template planted in a shared
 * HUB_PGLITE_TEMPLATE directory by another user would become this hub's database).
 */
export function isUsableTemplate(dir: string): boolean {
  try {
    const st = statSync(dir);
    if (!st.isDirectory() || (st.mode & 0o022) !== 0 || (process.getuid && st.uid !== process.getuid())) return false;
    return existsSync(path.join(dir, MANIFEST)) && existsSync(path.join(dir, "PG_VERSION"));
  } catch {
    return false;
  }
}

/**
 * Copies the template and checks the copy against its manifest; false if that failed (another
 * checkout sharing the cache removed it meanwhile, a full disk): the partial copy is removed and
 * this start makes its cluster. The template itself is left alone (a copy's error may be the
 * destination's); a damaged one is replaced when a cluster is kept (keepAsTemplate).
 */
function copied(template: string, staging: string, copy: (from: string, to: string) => void): boolean {
  try {
    copy(template, staging);
    const want = JSON.parse(readFileSync(path.join(staging, MANIFEST), "utf8")) as Manifest;
    const got = measure(staging);
    if (got.files !== want.files || got.bytes !== want.bytes) throw new Error(`the copy has ${got.files} files, ${got.bytes} bytes; the template ${want.files}, ${want.bytes}`);
    rmSync(path.join(staging, MANIFEST));
    return true;
  } catch {
    try {
      rmSync(staging, { recursive: true, force: true });
    } catch {
      // left for the next start's rmSync of the staging directory
    }
    return false;
  }
}

/** Removes a directory by renaming it aside first: a kill meanwhile never leaves half a template under a template's name. */
function discard(dir: string): void {
  const trash = `${dir}.trash-${process.pid}-${Date.now()}`;
  try {
    renameSync(dir, trash);
    rmSync(trash, { recursive: true, force: true });
  } catch {
    // gone already, or not ours to remove
  }
}

/**
 * Keeps a copy of a freshly made, closed cluster as the template: copied beside it (mode 0700), its
 * manifest written last, then renamed in (two starts at once: one rename wins, the other copy is
 * removed). A template that is not usable (no manifest, another owner) is set aside first; other
 * templates and leftovers older than ten minutes (a start killed while copying) are removed. Never
 * fails the start: a read-only cache only means the next first start makes its cluster again.
 */
export function keepAsTemplate(cluster: string, template: string): void {
  const root = path.dirname(template);
  const building = `${template}.building-${process.pid}`;
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    rmSync(building, { recursive: true, force: true });
    cpSync(cluster, building, { recursive: true });
    chmodSync(building, 0o700);
    writeFileSync(path.join(building, MANIFEST), JSON.stringify(measure(building)));
    if (existsSync(template) && !isUsableTemplate(template)) discard(template);
    renameSync(building, template);
    for (const other of readdirSync(root)) {
      const p = path.join(root, other);
      if (p === template || !other.startsWith("pglite-")) continue;
      if (/^pglite-[0-9a-f]{16}$/.test(other) || Date.now() - statSync(p).mtimeMs > 10 * 60_000) discard(p);
    }
  } catch {
    try {
      rmSync(building, { recursive: true, force: true });
    } catch {
      // left for a later start's clean-up (older than ten minutes)
    }
  }
}

/** Makes the template if there is none (`npm install` runs this: scripts/pglite-template.ts). */
export async function buildTemplate(template = templateDir()): Promise<{ template: string | null; built: boolean }> {
  if (!template || isUsableTemplate(template)) return { template, built: false };
  const staging = `${template}.making-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    await inWorker(staging);
    keepAsTemplate(staging, template);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { template, built: isUsableTemplate(template) };
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

import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * The previous release's code, runnable beside this one (issue 18 §8: migrations are applied to a
 * database under load from the previous release). The last release is the commit that added the
 * newest `schema/released/<version>.graphql` (as tests/tooling/expand-contract.test.ts defines it);
 * its tree is exported with `git archive` (no worktree registered in the repository), and its
 * node_modules is this checkout's, package by package, except the packages whose version the
 * release's package-lock.json pins differently: those are fetched with `npm pack` (cached under the
 * OS temp dir, so only the first run on a machine downloads them) and unpacked in place. Then its
 * Prisma client is generated from its own schema. A few seconds, where `npm ci` takes minutes.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");

export interface Release {
  version: string;
  commit: string;
  /** The release's tree with its node_modules, ready to run. */
  dir: string;
}

export function lastRelease(): { version: string; commit: string } {
  const versions = readdirSync(path.join(ROOT, "schema/released"))
    .filter((f) => /^\d+\.\d+\.\d+\.graphql$/.test(f))
    .map((f) => f.replace(/\.graphql$/, ""))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const version = versions.at(-1)!;
  const commit = execFileSync("git", ["log", "--diff-filter=A", "--format=%H", "--", `schema/released/${version}.graphql`], { cwd: ROOT, encoding: "utf8" })
    .trim()
    .split("\n")
    .at(-1)!;
  return { version, commit };
}

type LockPackages = Record<string, { version?: string; bin?: Record<string, string> | string }>;

/** "node_modules/@scope/name/node_modules/x" → "x"; the package name of a lockfile path. */
const nameOf = (lockPath: string) => lockPath.slice(lockPath.lastIndexOf("node_modules/") + "node_modules/".length);

/** Unpacks name@version (from the npm cache or the registry, through `npm pack`) into `into`. */
function unpack(name: string, version: string, into: string): void {
  const cache = path.join(tmpdir(), "coalition-hub-previous-release-packs");
  mkdirSync(cache, { recursive: true });
  const file = path.join(cache, `${name.replace("@", "").replace("/", "-")}-${version}.tgz`);
  if (!existsSync(file)) execFileSync("npm", ["pack", `${name}@${version}`, "--pack-destination", cache, "--silent"], { cwd: cache, stdio: ["ignore", "ignore", "inherit"] });
  mkdirSync(into, { recursive: true });
  execFileSync("tar", ["-xzf", file, "-C", into, "--strip-components=1"]);
}

export function preparePreviousRelease(): Release {
  const { version, commit } = lastRelease();
  const dir = mkdtempSync(path.join(tmpdir(), `hub-release-${version}-`));
  execFileSync("sh", ["-c", `git archive ${commit} | tar -x -C "${dir}"`], { cwd: ROOT });

  const theirs = JSON.parse(readFileSync(path.join(dir, "package-lock.json"), "utf8")).packages as LockPackages;
  const ours = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")).packages as LockPackages;
  // Top-level packages whose version differs (or that this checkout no longer has); a nested one
  // only matters under a top-level package that differs (else the symlinked package brings its own).
  const differs = (p: string) => ours[p]?.version !== theirs[p]!.version;
  const topLevel = Object.keys(theirs).filter((p) => p.startsWith("node_modules/") && !p.slice("node_modules/".length).includes("node_modules/"));
  const fetched = new Set(topLevel.filter(differs));
  const modules = path.join(dir, "node_modules");
  mkdirSync(path.join(modules, ".bin"), { recursive: true });
  for (const p of fetched) unpack(nameOf(p), theirs[p]!.version!, path.join(dir, p));
  for (const p of Object.keys(theirs)) {
    const parent = [...fetched].find((f) => p.startsWith(`${f}/node_modules/`));
    if (parent) unpack(nameOf(p), theirs[p]!.version!, path.join(dir, p));
  }
  // Everything else: a symlink to this checkout's copy (same version, same files).
  for (const entry of readdirSync(path.join(ROOT, "node_modules"))) {
    if (entry === ".bin" || entry.startsWith(".")) continue;
    const names = entry.startsWith("@") ? readdirSync(path.join(ROOT, "node_modules", entry)).map((n) => `${entry}/${n}`) : [entry];
    for (const name of names) {
      const target = path.join(modules, name);
      if (existsSync(target)) continue;
      mkdirSync(path.dirname(target), { recursive: true });
      symlinkSync(path.join(ROOT, "node_modules", name), target);
    }
  }
  for (const bin of readdirSync(path.join(ROOT, "node_modules/.bin"))) symlinkSync(path.join(ROOT, "node_modules/.bin", bin), path.join(modules, ".bin", bin));
  for (const p of fetched) {
    const bins = theirs[p]!.bin;
    for (const [bin, file] of Object.entries(typeof bins === "string" ? { [nameOf(p)]: bins } : (bins ?? {}))) {
      const link = path.join(modules, ".bin", bin);
      if (existsSync(link)) continue;
      chmodSync(path.join(dir, p, file), 0o755); // npm sets bins executable on install; a bare unpack does not
      symlinkSync(path.join(dir, p, file), link);
    }
  }
  execFileSync(path.join(modules, ".bin/prisma"), ["generate"], { cwd: dir, env: { ...process.env, PATH: `${path.join(modules, ".bin")}:${process.env.PATH}` }, stdio: ["ignore", "ignore", "inherit"] });
  return { version, commit, dir };
}

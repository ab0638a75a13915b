import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * `npm run mutation [module ...]`: Stryker over the rule modules of stryker.config.mjs, one module
 * at a time (the machine is shared: one test runner, `nice -n 10`), each into
 * reports/mutation/<module>/ (HTML + JSON, not in git). After each module its score and surviving
 * mutants are written to bench/mutation/<module>.json (small, in git; bench/MUTATION.md discusses them).
 * Stryker 10 needs Node >= 22: run through npm so node_modules/.bin/node (Node 24) is used.
 */

interface MutantJson {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number }; end: { line: number; column: number } };
}

// A variable specifier: the config is plain JavaScript (Stryker loads it), not part of the typed program.
const configFile = "../stryker.config.mjs";
const { MODULES } = (await import(configFile)) as { MODULES: Record<string, { mutate: string[]; testFiles: string[] }> };

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(MODULES);
for (const n of names) if (!(n in MODULES)) throw new Error(`unknown module ${n}; one of ${Object.keys(MODULES).join(", ")}`);

const major = Number(process.versions.node.split(".")[0]);
if (major < 22) throw new Error(`Stryker 10 needs Node >= 22 (this is ${process.versions.node}): run it as \`npm run mutation\``);

const stryker = path.resolve("node_modules/@stryker-mutator/core/bin/stryker.js");
let failed = false;
for (const name of names) {
  console.log(`\n=== mutation: ${name} ===`);
  const r = spawnSync("nice", ["-n", "10", process.execPath, stryker, "run", "stryker.config.mjs"], {
    stdio: "inherit",
    env: { ...process.env, MUTATION_MODULE: name },
  });
  if (r.status !== 0) {
    console.error(`mutation: ${name} exited with ${r.status}`);
    failed = true;
    continue;
  }
  const report = `reports/mutation/${name}/mutation.json`;
  if (!existsSync(report)) continue;
  const json = JSON.parse(readFileSync(report, "utf8")) as { files: Record<string, { mutants: MutantJson[] }> };
  const count: Record<string, number> = {};
  const survivors: { file: string; line: number; mutator: string; replacement: string | undefined; status: string }[] = [];
  for (const [file, f] of Object.entries(json.files)) {
    for (const m of f.mutants) {
      count[m.status] = (count[m.status] ?? 0) + 1;
      if (m.status === "Survived" || m.status === "NoCoverage") {
        survivors.push({ file, line: m.location.start.line, mutator: m.mutatorName, replacement: m.replacement, status: m.status });
      }
    }
  }
  const detected = (count.Killed ?? 0) + (count.Timeout ?? 0);
  const valid = detected + (count.Survived ?? 0) + (count.NoCoverage ?? 0);
  const score = valid ? Math.round((detected / valid) * 10_000) / 100 : null;
  mkdirSync("bench/mutation", { recursive: true });
  writeFileSync(`bench/mutation/${name}.json`, `${JSON.stringify({ module: name, at: new Date().toISOString(), mutate: MODULES[name]!.mutate, score, count, survivors }, null, 2)}\n`);
  console.log(`mutation: ${name}: score ${score}% (${JSON.stringify(count)}); bench/mutation/${name}.json`);
}
if (failed) process.exitCode = 1;

import { execFileSync } from "node:child_process";
import path from "node:path";
import { expect, test } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const run = (env: NodeJS.ProcessEnv) =>
  execFileSync(process.execPath, ["--input-type=module", "-e", "const { useCompileCache } = await import('./lib/compile-cache.ts'); console.log(useCompileCache(), useCompileCache());"], {
    cwd: ROOT,
    env,
    encoding: "utf8",
  }).trim();

test("the compile cache is turned on (and a second call keeps it on), unless NODE_COMPILE_CACHE says otherwise", () => {
  const { NODE_COMPILE_CACHE: _, ...env } = process.env;
  expect(run(env)).toBe("true true");
  expect(run({ ...env, NODE_COMPILE_CACHE: "" })).toBe("false false");
});

// The pre-commit hook's installer (package.json "prepare"): on in a git work tree, silent and
// harmless anywhere else, so `npm ci` in CI, a Docker build or a tarball never fails because of it.
import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";

const INSTALL = path.resolve("scripts/install-hooks.mjs");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const scratch = () => {
  const d = mkdtempSync(path.join(tmpdir(), "hub-hooks-"));
  dirs.push(d);
  return d;
};
// GIT_CEILING_DIRECTORIES: the scratch dir's parents (a checkout above /tmp, say) are not searched.
const env = { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CEILING_DIRECTORIES: tmpdir() };
const install = (cwd: string) => spawnSync(process.execPath, [INSTALL], { cwd, env, encoding: "utf8" });
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, env, encoding: "utf8" }).trim();

test("outside a git work tree it does nothing, says nothing and succeeds", () => {
  const dir = scratch();
  const r = install(dir);
  expect(r.status).toBe(0);
  expect(r.stdout + r.stderr).toBe("");
});

test("in a work tree it points core.hooksPath at .githooks, once; a hooks path set on purpose is left alone", () => {
  const dir = scratch();
  git(dir, "init", "-q");
  expect(install(dir).status).toBe(0);
  expect(git(dir, "config", "--get", "core.hooksPath")).toBe(".githooks");
  const again = install(dir);
  expect(again.status).toBe(0);
  expect(again.stdout).toBe("");

  const other = scratch();
  git(other, "init", "-q");
  git(other, "config", "core.hooksPath", ".husky");
  const r = install(other);
  expect(r.status).toBe(0);
  expect(r.stderr).toContain("leaving it");
  expect(git(other, "config", "--get", "core.hooksPath")).toBe(".husky");
});

test("the committed hook is executable (git runs it as a program)", () => {
  expect(() => accessSync(".githooks/pre-commit", constants.X_OK)).not.toThrow();
  expect(git(".", "ls-files", "-s", ".githooks/pre-commit")).toMatch(/^100755 /);
});

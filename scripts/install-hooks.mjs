// `npm install` / `npm ci` ("prepare"): points git at the committed hooks in .githooks/ (pre-commit:
// typecheck + lint of the staged files). Never fails an install: without git, outside a work tree
// (a tarball, a Docker build context without .git), or with a read-only git config it says why and
// leaves git alone; it also leaves alone a hooks path someone set on purpose.
import { execFileSync } from "node:child_process";

const HOOKS = ".githooks";
const git = (...args) => execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();

try {
  if (git("rev-parse", "--is-inside-work-tree") !== "true") throw new Error("not a git work tree");
} catch {
  process.exit(0); // no git, or no repository: nothing to install, nothing to say
}
let current = "";
try {
  current = git("config", "--get", "core.hooksPath");
} catch {} // unset: git exits 1
if (current === HOOKS) process.exit(0);
if (current) {
  console.warn(`install-hooks: core.hooksPath is ${current}; leaving it (the project's hooks are in ${HOOKS}/)`);
  process.exit(0);
}
try {
  git("config", "core.hooksPath", HOOKS);
  console.log(`install-hooks: git hooks from ${HOOKS}/ (pre-commit: typecheck + lint of staged files; skip once with --no-verify)`);
} catch (e) {
  console.warn(`install-hooks: could not set core.hooksPath (${e.message.split("\n")[0]}); hooks not installed`);
}

import { mergeConfig } from "vitest/config";
import base from "./vitest.config.ts";

// Mutation testing only (stryker.config.mjs): one worker process reused across test files and
// mutant runs (isolate: false), so a mutant costs its tests, not a fresh process that re-imports a
// subgraph per test file. Each test file still opens its own database in beforeAll, and Stryker
// switches mutants at run time (no re-import needed). The test suite keeps vitest.config.ts.
export default mergeConfig(base, { test: { isolate: false } });

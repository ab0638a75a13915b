import module from "node:module";
import path from "node:path";

/** The hub's caches in this checkout: the embedded database's template (lib/pglite-prepare.ts) and compiled code. */
export const CACHE_DIR = path.resolve(import.meta.dirname, "../node_modules/.cache/coalition-hub");

/**
 * Node's on-disk cache of compiled modules (`module.enableCompileCache`), for the modules loaded
 * after this call: the hub's services load dynamically after it (scripts/start.ts), ~2.4 s of a
 * restart. Kept beside the embedded database's template in node_modules/.cache/coalition-hub; Node
 * checks each entry against its source, so a changed file is compiled again. NODE_COMPILE_CACHE,
 * when set, is the operator's choice and wins; an older Node without the API runs without it.
 * Returns whether the cache is on.
 */
// Node ≥ 22.1 (the project runs on 24); @types/node here is older, so typed by hand.
const api = module as unknown as {
  enableCompileCache?: (dir?: string) => { status: number };
  flushCompileCache?: () => void;
  constants?: { compileCacheStatus?: { ENABLED: number; ALREADY_ENABLED: number } };
};

export function useCompileCache(): boolean {
  const enable = api.enableCompileCache;
  const codes = api.constants?.compileCacheStatus;
  if (process.env.NODE_COMPILE_CACHE !== undefined || !enable || !codes) return false;
  try {
    const { status } = enable(path.join(CACHE_DIR, "node-compile-cache"));
    return status === codes.ENABLED || status === codes.ALREADY_ENABLED;
  } catch {
    return false;
  }
}

/** Writes what was compiled so far to the cache now (Node writes it at exit otherwise). */
export function flushCompileCache(): void {
  api.flushCompileCache?.();
}

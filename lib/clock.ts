/**
 * The hub's clock for business rules that depend on the date (the loyalty program version in force,
 * qualification periods, earns' times). Production reads the system clock; a test that runs the
 * embedded hub in its own process moves time with `setClock` (tokens, timeouts and logs keep the
 * real clock: only the rules read this one). Never set outside tests.
 */
let source: () => Date = () => new Date();

/** The current instant under the hub's clock. */
export const now = (): Date => source();

/** Tests: read time from `fn` (e.g. a fixed or advancing instant); `setClock(null)` restores the system clock. */
export function setClock(fn: (() => Date) | null): void {
  source = fn ?? (() => new Date());
}

// Kept apart from lib/db.ts (which loads Prisma and PGlite) so the HTTP layer can classify errors cheaply.
/** SQLSTATEs and socket errors that mean "the database is not reachable right now", not "this request is wrong". */
const UNAVAILABLE_CODES = new Set([
  "57P01", // admin_shutdown (the server is stopping: fast/immediate shutdown terminates sessions)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, in recovery)
  "08000",
  "08001",
  "08003",
  "08004",
  "08006", // connection exceptions
  "53300", // too_many_connections
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "P1001",
  "P1002",
  "P1008",
  "P1017", // Prisma: can't reach, timed out, server closed the connection
]);
const UNAVAILABLE_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections", "TransactionAlreadyClosed"]);
const UNAVAILABLE_MESSAGE =
  /Connection terminated|terminating connection|the database system is (starting up|shutting down|in recovery)|Client has encountered a connection error|connect ECONNREFUSED|Connection ended unexpectedly|server closed the connection/i;

/**
 * Whether an error means the database is unavailable (restarting, unreachable, connection lost):
 * a retriable failure the client should see as SERVICE_UNAVAILABLE, not a masked internal error.
 * Walks the error's causes (Prisma wraps the driver adapter's error, which wraps pg's).
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [e];
  while (queue.length) {
    const x = queue.shift();
    if (!x || typeof x !== "object" || seen.has(x)) continue;
    seen.add(x);
    const o = x as { code?: unknown; originalCode?: unknown; kind?: unknown; message?: unknown; cause?: unknown; meta?: unknown; originalError?: unknown };
    for (const c of [o.code, o.originalCode]) if (typeof c === "string" && UNAVAILABLE_CODES.has(c)) return true;
    if (typeof o.kind === "string" && UNAVAILABLE_KINDS.has(o.kind)) return true;
    if (typeof o.message === "string" && UNAVAILABLE_MESSAGE.test(o.message)) return true;
    queue.push(o.cause, o.originalError, (o.meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError);
  }
  return false;
}

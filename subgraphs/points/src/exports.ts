import type { ServerResponse } from "node:http";
import { badInput } from "../../../lib/errors.ts";
import type { Principal } from "../../../lib/principal.ts";
import type { ExportRoute } from "../../../lib/subgraph-server.ts";
import { exportChunks, partnerOf, partnerTotals, totalsHeaders, txFilter } from "./settlement/transactions.ts";

/**
 * GET /exports/partner-transactions (reached through the gateway's route of the same path, with the
 * caller's own identity): the partner's transactions of a range as CSV or JSON, streamed.
 * Query parameters: from, to (ISO-8601 with offset), kinds, statuses (comma-separated), format
 * (csv | json, default csv), partnerId (ADMIN). The range's totals come first: in headers
 * (x-total-*) and, for JSON, in the body before the rows.
 */

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const KNOWN = new Set(["from", "to", "kinds", "statuses", "format", "partnerId"]);

function param(params: URLSearchParams, name: string): string | null {
  const all = params.getAll(name);
  if (all.length > 1) throw badInput(`${name} is given more than once`, name);
  const v = all[0] ?? null;
  if (v !== null && (v.length > 1000 || hasControl(v))) throw badInput(`${name} contains control characters or is too long`, name);
  return v;
}

function time(params: URLSearchParams, name: "from" | "to"): Date {
  const v = param(params, name);
  if (!v) throw badInput(`${name} is required (ISO-8601 with offset, e.g. 2026-12-01T00:00:00Z)`, name);
  const d = new Date(v);
  if (!ISO.test(v) || Number.isNaN(d.getTime())) throw badInput(`${name} must be an ISO-8601 time with offset, e.g. 2026-12-01T00:00:00Z`, name);
  return d;
}

/** Resolves when the client drained the socket's buffer (or went away); its listeners are removed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      res.off("error", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
    res.on("error", done);
  });
}

/** C0, DEL or C1 controls (NUL among them): never part of a parameter. */
const hasControl = (v: string) =>
  [...v].some((ch) => {
    const c = ch.codePointAt(0)!;
    return c < 0x20 || (c >= 0x7f && c <= 0x9f);
  });

const list = (v: string | null) => (v ? v.split(",").map((s) => s.trim().toUpperCase()) : null);

export const partnerTransactionsExport: ExportRoute = async (principal: Principal, params: URLSearchParams, res: ServerResponse) => {
  for (const k of params.keys()) if (!KNOWN.has(k)) throw badInput(`Unknown parameter ${k.slice(0, 50)}`, k.slice(0, 50));
  const format = (param(params, "format") ?? "csv").toLowerCase();
  if (format !== "csv" && format !== "json") throw badInput("format must be csv or json", "format");
  const partnerId = partnerOf(principal, param(params, "partnerId"));
  const f = txFilter(partnerId, { from: time(params, "from"), to: time(params, "to"), kinds: list(param(params, "kinds")), statuses: list(param(params, "statuses")) });
  const totals = await partnerTotals(f);
  const stamp = (d: Date) => d.toISOString().replace(/[:.]/g, "");
  res.writeHead(200, {
    "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
    "content-disposition": `attachment; filename="transactions-${partnerId}-${stamp(f.from)}-${stamp(f.to)}.${format}"`,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...totalsHeaders(totals),
  });
  for await (const chunk of exportChunks(f, format === "csv" ? "CSV" : "JSON", totals)) {
    if (res.destroyed) return; // the client went away: stop reading the ledger
    if (!res.write(chunk)) await drained(res);
  }
  res.end();
};

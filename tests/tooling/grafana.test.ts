import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, test } from "vitest";
import { metricNames } from "../../lib/metrics.ts";

// deploy/grafana/coalition-hub.json uses exactly the metric names lib/metrics.ts exports: every
// series a panel queries exists (a renamed metric fails here, not on an operator's empty graph),
// and every metric the hub defines itself is on the dashboard.
const DASHBOARD = path.resolve(import.meta.dirname, "../../deploy/grafana/coalition-hub.json");

function exprs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(exprs);
  if (node && typeof node === "object") return Object.entries(node).flatMap(([k, v]) => (k === "expr" && typeof v === "string" ? [v] : exprs(v)));
  return [];
}

test("every expr of the dashboard refers to an exported metric, and every hub metric is charted", async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: unknown[] };
  const all = exprs(dashboard);
  expect(all.length).toBeGreaterThan(20);
  const exported = new Set(await metricNames());
  const used = new Set<string>();
  for (const e of all) {
    const names = e.match(/\bhub_[a-z0-9_]+/g) ?? [];
    expect(names.length, e).toBeGreaterThan(0);
    for (const n of names) {
      const base = exported.has(n) ? n : n.replace(/_(bucket|count|sum)$/, "");
      expect(exported.has(base), `${n} in ${e}`).toBe(true);
      used.add(base);
    }
  }
  // The hub's own metrics (not prom-client's process defaults) all appear.
  const own = [...exported].filter((n) => !/^hub_(process|nodejs)_/.test(n));
  expect(own.filter((n) => !used.has(n))).toEqual([]);
});

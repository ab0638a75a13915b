import type { PartnerTransactionsQuery } from "./gql/graphql.ts";
import type { Hub } from "./hub.ts";
import { PartnerTransactions } from "./operations.ts";

/** One award as the partner's own system (its POS) logged it. */
export interface OwnAward {
  idempotencyKey: string;
  memberRef: string;
  points: string;
  reference: string;
  transactionId: string;
}

export interface Reconciliation {
  from: string;
  to: string;
  /** The hub's totals for the day (BigInt decimal strings). */
  hubTotals: { pointsIssued: string; pointsRedeemed: string; pointsReversed: string; transactions: string };
  /** Rows listed through GraphQL (paged) and rows in the CSV export: the same transactions. */
  listed: number;
  exported: number;
  /** Our awards found at the hub with the same points and reference. */
  matched: number;
  /** Our awards the hub does not have, or has with other points/reference: must be empty. */
  mismatched: string[];
  /** Transactions at the hub that are not in our log (other channels, e.g. staff at a till). */
  unknownToUs: number;
  /** Σ EARN points of the exported rows = the hub's pointsIssued. */
  exportMatchesTotals: boolean;
}

/** The UTC day containing `at`: [00:00, next 00:00). */
export function dayOf(at: Date): { from: string; to: string } {
  const from = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  return { from: from.toISOString(), to: new Date(from.getTime() + 86_400_000).toISOString() };
}

/** RFC 4180 fields of one CSV line (the hub quotes cells with commas or quotes; no newlines in our data). */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let s = "";
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') {
          s += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          break;
        } else s += line[i++];
      }
      out.push(s);
      i++; // the comma
    } else {
      const j = line.indexOf(",", i);
      out.push(line.slice(i, j < 0 ? line.length : j));
      i = j < 0 ? line.length + 1 : j + 1;
    }
  }
  return out;
}

/**
 * Reconciles a day: pages through partnerTransactions (GraphQL, typed), downloads the same day as a
 * streamed CSV (GET /exports/partner-transactions), and compares both with our own log and with the
 * hub's totals for the day.
 */
export async function reconcileDay(hub: Hub, own: readonly OwnAward[], day: { from: string; to: string }): Promise<Reconciliation> {
  const client = await hub.client();
  const listed = new Map<string, { kind: string; points: string; reference: string | null }>();
  let after: string | null = null;
  let totals: Reconciliation["hubTotals"] | null = null;
  for (;;) {
    const result: PartnerTransactionsQuery = await client.request(PartnerTransactions, { filter: { from: day.from, to: day.to }, first: 100, after });
    const page = result.partnerTransactions;
    totals ??= page.totals;
    for (const e of page.edges) listed.set(e.node.id, { kind: e.node.kind, points: e.node.points64, reference: e.node.reference ?? null });
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor ?? null;
  }

  const res = await fetch(`${hub.cfg.baseUrl}/exports/partner-transactions?from=${encodeURIComponent(day.from)}&to=${encodeURIComponent(day.to)}&format=csv`, {
    headers: { authorization: `Bearer ${await hub.accessToken()}` },
  });
  if (!res.ok || !res.body) throw new Error(`export refused: ${res.status} ${await res.text()}`);
  // Read the file as a stream, line by line (a day can be large).
  const exported = new Map<string, { kind: string; points: string }>();
  let issued = 0n;
  let header: string[] | null = null;
  let rest = "";
  const decoder = new TextDecoder();
  const onLine = (line: string) => {
    const cells = csvFields(line);
    if (!header) {
      header = cells;
      return;
    }
    const row = Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ""]));
    exported.set(row.transaction_id!, { kind: row.kind!, points: row.points! });
    if (row.kind === "EARN") issued += BigInt(row.points!);
  };
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    for (const l of lines) if (l) onLine(l);
  }
  if (rest) onLine(rest);

  const mismatched: string[] = [];
  let matched = 0;
  for (const a of own) {
    const h = listed.get(a.transactionId);
    const x = exported.get(a.transactionId);
    if (h && x && h.points === a.points && x.points === a.points && h.reference === a.reference) matched++;
    else mismatched.push(a.idempotencyKey);
  }
  const ours = new Set(own.map((a) => a.transactionId));
  return {
    ...day,
    hubTotals: totals ?? { pointsIssued: "0", pointsRedeemed: "0", pointsReversed: "0", transactions: "0" },
    listed: listed.size,
    exported: exported.size,
    matched,
    mismatched,
    unknownToUs: [...listed.keys()].filter((id) => !ours.has(id)).length,
    exportMatchesTotals: String(issued) === totals?.pointsIssued && res.headers.get("x-total-points-issued") === totals?.pointsIssued,
  };
}

import { z } from "zod";
import { recordAudit } from "../../../../lib/audit.ts";
import type { ApiClient } from "../../../../prisma/generated/client/client.ts";
import { notFound } from "../../../../lib/errors.ts";
import { prisma } from "../db.ts";
import { parseInput } from "../../../../lib/input.ts";
import { type Actor, isAdmin, isPartnerSelf } from "./domain.ts";

/**
 * Browser origins per API client (CORS, issue 17 §4). A partner's single-page app calls the hub
 * from its own origin with its own tokens; the gateway lets a page of origin O call with a token
 * of client C only when O is in C's list (gateway/src/cors.ts). Exact origins only: no wildcard
 * (tokens are bearer credentials, and a wildcard would let any page replay a leaked one), no
 * path, https except for loopback development hosts.
 */
export const MAX_ORIGINS = 20;

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

const Origin = z
  .string()
  .max(200, "An origin is at most 200 characters")
  .refine((o) => ![...o].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f || c === "*" || /\s/.test(c)), "An origin has no spaces, control characters or wildcards")
  .refine((o) => {
    try {
      return new URL(o).origin === o;
    } catch {
      return false;
    }
  }, "An origin is scheme://host[:port] exactly as a browser sends it: no path, no trailing slash, lower-case host")
  .refine((o) => {
    try {
      const u = new URL(o);
      return u.protocol === "https:" || (u.protocol === "http:" && LOOPBACK.has(u.hostname));
    } catch {
      return false;
    }
  }, "An origin must be https (http only for localhost, 127.0.0.1 or [::1])");

const SetInput = z.object({
  clientId: z.string().min(1).max(64),
  origins: z.array(Origin).max(MAX_ORIGINS, `At most ${MAX_ORIGINS} origins per client`),
});

/** ADMIN, or the partner owning the client, replaces its allowed origins (empty = no browser access). */
export async function setAllowedOrigins(actor: Actor, raw: unknown): Promise<ApiClient> {
  const input = parseInput(SetInput, raw);
  const client = await prisma().apiClient.findUnique({ where: { clientId: input.clientId } });
  if (!client || !(isAdmin(actor) || (client.partnerId && isPartnerSelf(actor, client.partnerId)))) throw notFound("ApiClient", input.clientId);
  const origins = [...new Set(input.origins)].sort();
  return prisma().$transaction(async (tx) => {
    const updated = await tx.apiClient.update({ where: { id: client.id }, data: { allowedOrigins: origins } });
    await recordAudit(tx, actor, {
      action: "api_client.origins_changed",
      targetType: "ApiClient",
      targetId: client.clientId,
      partnerId: client.partnerId,
      before: { allowedOrigins: client.allowedOrigins },
      after: { allowedOrigins: updated.allowedOrigins },
    });
    return updated;
  });
}

/**
 * What the gateway polls (`POST /internal/clients/origins`): origin → the client ids whose tokens a
 * page of that origin may use. Revoked clients and clients of inactive partners are left out.
 */
export async function corsOriginsFeed(): Promise<{ origins: Record<string, string[]> }> {
  const rows = await prisma().apiClient.findMany({
    where: { revokedAt: null, NOT: { allowedOrigins: { isEmpty: true } }, OR: [{ partnerId: null }, { partner: { active: true } }] },
    select: { clientId: true, allowedOrigins: true },
  });
  const origins: Record<string, string[]> = {};
  for (const r of rows) for (const o of r.allowedOrigins) (origins[o] ??= []).push(r.clientId);
  return { origins };
}

import { randomBytes } from "node:crypto";
import { z } from "zod";
import { recordAudit } from "../../../../lib/audit.ts";
import { Prisma } from "../../../../lib/db.ts";
import { badInput, forbidden, notFound } from "../../../../lib/errors.ts";
import { hashPassword, verifyPassword } from "../../../../lib/password.ts";
import { PURPOSES, type Purpose } from "../../../../lib/vocabulary.ts";
import type { ApiClient, Role } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { isUuid, parseInput } from "../../../../lib/input.ts";
import { type Actor, isAdmin, isPartnerSelf } from "./domain.ts";

/**
 * API clients for the OAuth2 client-credentials grant (issue 3). The secret is 32 random bytes,
 * shown once, and stored only as a salted scrypt hash (lib/password.ts, as people's passwords); verification compares in constant time,
 * and an unknown client id still costs one scrypt so response time does not reveal which ids exist.
 */

export type { ApiClient };

/** A hash of a secret nobody knows, spent on unknown client ids (same cost as a real check). */
let dummyHash: Promise<string> | undefined;
const dummy = () => (dummyHash ??= hashPassword(randomBytes(32).toString("base64url")));

export const newSecret = () => randomBytes(32).toString("base64url");
/** A fresh client id: the partner's slug (or "admin") and 12 random characters, lower case. */
export const newClientId = (slug: string | null) => `${slug ?? "admin"}-${randomBytes(9).toString("base64url").replace(/[-_]/g, "x")}`.toLowerCase();

/** OAuth scope granted to a client's tokens, by role. */
export const scopeForRole = (role: Role): string => (role === "ADMIN" ? "hub:admin" : role === "PARTNER" ? "hub:partner" : "hub:member");

const CreateInput = z
  .object({
    partnerId: z.string().refine(isUuid, "partnerId is not a partner id").nullish(),
    role: z.enum(["ADMIN", "PARTNER", "MEMBER"]),
    defaultPurpose: z.enum(PURPOSES).nullish(),
    name: z.string().trim().min(1).max(100, "name is at most 100 characters").nullish(),
  })
  .superRefine((v, ctx) => {
    if (v.role === "MEMBER") ctx.addIssue({ code: "custom", path: ["role"], message: "Member tokens come from token exchange, not from an API client" });
    if (v.role === "PARTNER" && !v.partnerId) ctx.addIssue({ code: "custom", path: ["partnerId"], message: "A PARTNER client needs partnerId" });
    if (v.role === "ADMIN" && v.partnerId) ctx.addIssue({ code: "custom", path: ["partnerId"], message: "An ADMIN client belongs to no partner" });
  });
export type CreateApiClientInput = z.input<typeof CreateInput>;

export interface ApiClientSecret {
  client: ApiClient;
  /** Shown once; only its hash is stored. */
  clientSecret: string;
}

/** ADMIN creates an API client; the secret is returned once. */
export async function createApiClient(actor: Actor, raw: unknown): Promise<ApiClientSecret> {
  if (!isAdmin(actor)) throw forbidden("Only an admin creates API clients");
  const input = parseInput(CreateInput, raw);
  let slug: string | null = null;
  if (input.partnerId) {
    const partner = await prisma().partner.findUnique({ where: { id: input.partnerId }, select: { slug: true } });
    if (!partner) throw badInput("No such partner", "partnerId");
    slug = partner.slug;
  }
  const clientSecret = newSecret();
  const client = await insertClient({
    clientId: newClientId(slug),
    secret: clientSecret,
    role: input.role,
    partnerId: input.partnerId ?? null,
    defaultPurpose: input.defaultPurpose ?? undefined,
    name: input.name ?? undefined,
    actor,
  });
  return { client, clientSecret };
}

/** The fields of an API client (or partner app) the audit trail records: never its secret or hash. */
export function clientAuditView(c: ApiClient) {
  return {
    clientId: c.clientId,
    role: c.role,
    partnerId: c.partnerId,
    name: c.name,
    defaultPurpose: c.defaultPurpose,
    revokedAt: c.revokedAt,
    allowedOrigins: c.allowedOrigins,
    ...(c.redirectUris.length ? { appName: c.appName, redirectUris: c.redirectUris, allowedScopes: c.allowedScopes } : {}),
  };
}

/** Inserts a client; with `actor` (an API call, not the seed) the creation is audited in the same transaction. */
async function insertClient(c: { clientId: string; secret: string; role: Role; partnerId: string | null; defaultPurpose?: string; name?: string; actor?: Actor }) {
  const secretHash = await hashPassword(c.secret);
  try {
    return await prisma().$transaction(async (tx) => {
      const client = await tx.apiClient.create({
        data: { clientId: c.clientId, secretHash, role: c.role, partnerId: c.partnerId, defaultPurpose: c.defaultPurpose ?? "ACCOUNT_SERVICING", name: c.name },
      });
      if (c.actor) await recordAudit(tx, c.actor, { action: "api_client.created", targetType: "ApiClient", targetId: client.clientId, partnerId: client.partnerId, before: null, after: clientAuditView(client) });
      return client;
    });
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") throw badInput(`Client id ${c.clientId} is taken`, "clientId");
    throw e;
  }
}

/**
 * Creates a client with a chosen id and secret: only for the demo seed and test fixtures
 * (demo-admin / demo-admin-secret, demo-<slug> / demo-<slug>-secret). Never exposed through the API.
 */
export async function createApiClientWithSecret(c: { clientId: string; secret: string; role: Role; partnerId?: string | null; defaultPurpose?: Purpose; name?: string }): Promise<ApiClient> {
  if (!/^[A-Za-z0-9._-]{3,64}$/.test(c.clientId)) throw badInput("clientId is 3–64 letters, digits, dots, dashes or underscores", "clientId");
  if (c.secret.length < 8) throw badInput("secret is at least 8 characters", "secret");
  if ((c.role === "PARTNER") !== Boolean(c.partnerId) || c.role === "MEMBER") throw badInput("role and partnerId do not match", "role");
  return insertClient({ ...c, partnerId: c.partnerId ?? null });
}

/** ADMIN, or the owning partner (a leaked key must be revocable at once); anything else is NOT_FOUND. Revoking twice keeps the first time. */
export async function revokeApiClient(actor: Actor, clientId: string, now = new Date()): Promise<ApiClient> {
  const client = await prisma().apiClient.findUnique({ where: { clientId } });
  if (!client || !(isAdmin(actor) || (client.partnerId && isPartnerSelf(actor, client.partnerId)))) throw notFound("ApiClient", clientId);
  if (client.revokedAt) return client;
  return prisma().$transaction(async (tx) => {
    const { count } = await tx.apiClient.updateMany({ where: { id: client.id, revokedAt: null }, data: { revokedAt: now } });
    const after = await tx.apiClient.findUniqueOrThrow({ where: { id: client.id } });
    // A concurrent revocation won: it is the one recorded.
    if (count)
      await recordAudit(tx, actor, { action: "api_client.revoked", targetType: "ApiClient", targetId: client.clientId, partnerId: client.partnerId, before: clientAuditView(client), after: clientAuditView(after) });
    return after;
  });
}

/** API clients of partners, newest first (no secrets: only hashes exist, and those are never read out). */
export async function clientsOfPartners(partnerIds: readonly string[]): Promise<Map<string, ApiClient[]>> {
  const valid = partnerIds.filter(isUuid);
  const rows = valid.length ? await prisma().apiClient.findMany({ where: { partnerId: { in: valid } }, orderBy: [{ createdAt: "desc" }, { id: "asc" }] }) : [];
  const out = new Map<string, ApiClient[]>();
  for (const r of rows) out.set(r.partnerId!, [...(out.get(r.partnerId!) ?? []), r]);
  return out;
}

/** ADMIN: every client, or those of the admin role only (partnerId null). */
export async function listApiClients(actor: Actor, opts: { adminOnly?: boolean } = {}): Promise<ApiClient[]> {
  if (!isAdmin(actor)) throw forbidden("Only an admin lists API clients");
  return prisma().apiClient.findMany({ where: opts.adminOnly ? { partnerId: null } : {}, orderBy: [{ createdAt: "desc" }, { id: "asc" }], take: 1000 });
}

export interface AuthenticatedClient {
  clientId: string;
  role: Role;
  partnerId: string | null;
  defaultPurpose: string;
  scope: string;
}

/**
 * The token service's client check: the client exists, is not revoked, its partner (if any) is
 * active, and the secret matches. Returns null otherwise, after the same amount of scrypt work.
 */
export async function authenticateClient(clientId: unknown, clientSecret: unknown): Promise<AuthenticatedClient | null> {
  const id = typeof clientId === "string" && clientId.length <= 200 ? clientId : "";
  const secret = typeof clientSecret === "string" && clientSecret.length <= 512 ? clientSecret : "";
  const client = id ? await prisma().apiClient.findUnique({ where: { clientId: id }, include: { partner: { select: { active: true } } } }) : null;
  const ok = await verifyPassword(secret, client?.secretHash ?? (await dummy()));
  if (!client || !ok || !secret) return null;
  if (client.revokedAt) return null;
  if (client.partnerId && !client.partner?.active) return null;
  return { clientId: client.clientId, role: client.role, partnerId: client.partnerId, defaultPurpose: client.defaultPurpose, scope: scopeForRole(client.role) };
}

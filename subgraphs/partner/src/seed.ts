import { Secret } from "otpauth";
import { badInput } from "../../../lib/errors.ts";
import { hashPassword } from "../../../lib/password.ts";
import type { PersonRole } from "../../../lib/principal.ts";
import { prisma } from "./db.ts";
import { AppInput } from "./services/partner-apps.ts";

// Writes only the demo seed makes (prisma/seed.ts) and test fixtures use, which the API never
// offers: chosen ids and known secrets instead of generated ones shown once, people without an
// invitation. The seed refuses to run in production.

/** Seed and fixtures: an app with a chosen id and secret (never exposed through the API). */
export async function createPartnerAppWithSecret(c: { clientId: string; secret: string; partnerId: string; appName: string; redirectUris: string[]; scopes: string[] }) {
  const input = AppInput.parse({ partnerId: c.partnerId, appName: c.appName, redirectUris: c.redirectUris, scopes: c.scopes });
  if (!/^[A-Za-z0-9._-]{3,64}$/.test(c.clientId)) throw badInput("clientId is 3–64 letters, digits, dots, dashes or underscores", "clientId");
  return prisma().apiClient.create({
    data: {
      clientId: c.clientId,
      secretHash: await hashPassword(c.secret),
      role: "PARTNER",
      partnerId: input.partnerId,
      name: input.appName,
      appName: input.appName,
      redirectUris: input.redirectUris,
      allowedScopes: input.scopes,
    },
  });
}

/** The demo seed: a person with a known password (and, for ADMIN, a TOTP secret returned once). */
export async function createPersonForSeed(p: { email: string; role: PersonRole; partnerId: string | null; password: string; displayName?: string }): Promise<{ id: string; totpSecret: string | null }> {
  const totpSecret = p.role === "ADMIN" ? new Secret({ size: 20 }).base32 : null;
  const row = await prisma().person.create({
    data: { email: p.email.toLowerCase(), role: p.role, partnerId: p.partnerId, passwordHash: await hashPassword(p.password), totpSecret, invitedBy: "seed", displayName: p.displayName ?? null },
  });
  return { id: row.id, totpSecret };
}

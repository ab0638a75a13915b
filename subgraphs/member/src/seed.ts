import { hashPassword } from "../../../lib/password.ts";
import { prisma } from "./db.ts";

// Writes only the demo seed makes (prisma/seed.ts), which the API never offers: they skip the
// member's own activation. The seed refuses to run in production.

/** The demo seed: a member with a known password (refused in production by the seed itself). */
export async function setPasswordForSeed(memberId: string, password: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  await prisma().memberCredential.upsert({ where: { memberId }, create: { memberId, passwordHash }, update: { passwordHash } });
}

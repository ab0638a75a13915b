import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

/**
 * Webhook signing secrets and signatures (Standard Webhooks, https://www.standardwebhooks.com):
 * a secret is `whsec_` + base64 of 32 random bytes; a signature is `v1,` + base64 of
 * HMAC-SHA256(key = the secret's bytes, `${id}.${timestamp}.${body}`); one per valid secret,
 * space-separated, in `webhook-signature`.
 *
 * Signing is three lines of node:crypto on purpose: the tests verify every delivery with the
 * `standardwebhooks` npm package, so the two sides are independent implementations of the spec
 * (signing with that package would make the test check the package against itself).
 *
 * Storage: the hub must sign with the secret, so it cannot keep only a hash (as it does for client
 * secrets). Secrets are stored encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from
 * HUB_INTERNAL_SECRET, which only the hub's processes hold; a copy of the database alone does not
 * reveal them, and no API ever returns a secret after the mutation that created or rotated it.
 */

let key: Buffer | undefined;

/** Sets the encryption key from the internal secret's key bytes (startPartnerSubgraph does it). */
export function useWebhookSecretKey(internalKey: Uint8Array): void {
  key = Buffer.from(hkdfSync("sha256", internalKey, Buffer.from("coalition-hub"), Buffer.from("webhook-secrets v1"), 32));
}

function encryptionKey(): Buffer {
  if (!key) throw new Error("webhooks: the secret encryption key is not set (useWebhookSecretKey)");
  return key;
}

export function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

export function encryptSecret(secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", encryptionKey(), iv);
  const ct = Buffer.concat([c.update(secret, "utf8"), c.final()]);
  return `v1.${iv.toString("base64url")}.${c.getAuthTag().toString("base64url")}.${ct.toString("base64url")}`;
}

export function decryptSecret(stored: string): string {
  const [v, iv, tag, ct] = stored.split(".");
  if (v !== "v1" || !iv || !tag || ct === undefined) throw new Error("webhooks: unreadable stored secret");
  const d = createDecipheriv("aes-256-gcm", encryptionKey(), Buffer.from(iv, "base64url"));
  d.setAuthTag(Buffer.from(tag, "base64url"));
  return Buffer.concat([d.update(Buffer.from(ct, "base64url")), d.final()]).toString("utf8");
}

/** One `v1,<base64>` signature of `${id}.${timestamp}.${body}` with a `whsec_` secret. */
export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  const bytes = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", bytes).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`;
}

/** The `webhook-signature` header: one signature per valid secret (two during a rotation's overlap). */
export function signatureHeader(secrets: readonly string[], id: string, timestampSeconds: number, body: string): string {
  return secrets.map((s) => sign(s, id, timestampSeconds, body)).join(" ");
}

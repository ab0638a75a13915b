import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, test } from "vitest";
import { ACCESS_TOKEN_TTL_SECONDS, KeySet } from "./keys.ts";
import { TokenVerifier } from "./verify.ts";

const dir = () => mkdtempSync(path.join(tmpdir(), "hub-keys-"));

async function tokenWith(keys: KeySet) {
  const { kid, privateKey } = keys.signing();
  return new SignJWT({ role: "ADMIN" })
    .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" })
    .setIssuer("iss")
    .setAudience("aud")
    .setSubject("c1")
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime("15m")
    .sign(privateKey);
}

describe("KeySet", () => {
  test("the embedded default creates one key in <dataDir>/signing-keys.json (0600) and reuses it", async () => {
    const d = dir();
    const a = await KeySet.fromConfig({ dataDir: d, env: {} });
    const file = path.join(d, "signing-keys.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const b = await KeySet.fromConfig({ dataDir: d, env: {} });
    expect(b.signing().kid).toBe(a.signing().kid);
    a.close();
    b.close();
  });

  test("rotation: the new key signs, both are published without private parts, the file keeps both", async () => {
    const d = dir();
    const keys = await KeySet.fromConfig({ dataDir: d, env: {} });
    const old = keys.signing().kid;
    const fresh = await keys.rotate();
    expect(keys.signing().kid).toBe(fresh);
    const jwks = keys.jwks();
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([old, fresh].sort());
    for (const k of jwks.keys) expect(Object.keys(k).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
    expect(keys.verificationKey(old)).toBeDefined();
    const stored = JSON.parse(readFileSync(path.join(d, "signing-keys.json"), "utf8")).keys as { kid: string; retiredAt?: string }[];
    expect(stored.find((k) => k.kid === old)?.retiredAt).toBeTruthy();
    keys.close();
  });

  test("a key retired longer ago than a token lives drops out of the JWKS and stops verifying", async () => {
    const keys = await KeySet.fromConfig({ env: {} });
    const old = keys.signing().kid;
    await keys.rotate(new Date(Date.now() - (ACCESS_TOKEN_TTL_SECONDS + 60) * 1000));
    expect(keys.verificationKey(old)).toBeUndefined();
    expect(keys.jwks().keys.map((k) => k.kid)).not.toContain(old);
  });

  test("HUB_SIGNING_KEYS: the first key signs, the others only verify", async () => {
    const jwk = async (kid: string) => ({ ...(await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey)), kid });
    const keys = await KeySet.fromConfig({ env: { HUB_SIGNING_KEYS: JSON.stringify([await jwk("k-new"), await jwk("k-old")]) } });
    expect(keys.signing().kid).toBe("k-new");
    expect(keys.verificationKey("k-old")).toBeDefined();
    await expect(KeySet.fromConfig({ env: { HUB_SIGNING_KEYS: JSON.stringify([{ kty: "EC", crv: "P-256", x: "a", y: "b", d: "c" }]) } })).rejects.toThrow(/kid/);
  });

  test("a rotation by another process (the CLI) reaches a running gateway: new kid verifies, new key signs", async () => {
    const d = dir();
    const gateway = await KeySet.fromConfig({ dataDir: d, env: {} });
    const cli = await KeySet.fromConfig({ dataDir: d, env: {} });
    const before = await tokenWith(gateway);
    const fresh = await cli.rotate();
    const verifier = new TokenVerifier(gateway, "iss", "aud");
    // A token of the new key arrives before the gateway's poll: the unknown kid triggers a reload.
    const after = await tokenWith(cli);
    expect((await verifier.verify(after)).principal.sub).toBe("c1");
    expect(gateway.signing().kid).toBe(fresh);
    expect((await verifier.verify(before)).principal.role).toBe("ADMIN");
    gateway.close();
    cli.close();
  });
});

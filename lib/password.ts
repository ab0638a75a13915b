import { createHash, randomBytes, scrypt as scryptCb, type ScryptOptions, timingSafeEqual } from "node:crypto";
import { readSetting } from "./config.ts";

/**
 * People's passwords (members, admins, partner staff) and API clients' secrets: salted scrypt,
 * N = 2^15, r = 8, p = 1 (32 MiB, ~100 ms here), parameters kept in every hash so they can be raised
 * later (OWASP suggests N = 2^17) without invalidating anyone.
 */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLen: 32, saltLen: 16 } as const;

let hashes = 0;
/** How many password hashes this process computed (the brute-force test bounds it). */
export const passwordHashCount = () => hashes;

function scrypt(secret: string, salt: Buffer, keyLen: number, o: ScryptOptions): Promise<Buffer> {
  hashes++;
  return new Promise((resolve, reject) => scryptCb(secret.normalize("NFC"), salt, keyLen, o, (err, key) => (err ? reject(err) : resolve(key))));
}

/**
 * Hashes started ahead of need, each taken by the first hashPassword of its password (and then
 * forgotten): `npm start` starts the demo seed's published secrets while the database opens. A
 * hash taken this way is an ordinary one (its own random salt), computed a little earlier.
 */
const ahead = new Map<string, Promise<string>>();
/** One after another: one core hashes, the other is left to the caller (all at once, libuv's four threads slowed the start's module loading). */
export function hashAhead(passwords: readonly string[]): void {
  let previous: Promise<unknown> = Promise.resolve();
  for (const p of passwords) {
    if (ahead.has(p)) continue;
    const h = previous.then(
      () => computeHash(p),
      () => computeHash(p),
    );
    h.catch(() => {}); // a failure reaches the hashPassword that takes it
    ahead.set(p, h);
    previous = h;
  }
}

/** `scrypt$N$r$p$<salt base64url>$<hash base64url>` (128·N·r bytes are needed; Node's default limit is exactly that, so allow headroom). */
export async function hashPassword(password: string): Promise<string> {
  const early = ahead.get(password);
  if (early) {
    ahead.delete(password);
    return early;
  }
  return computeHash(password);
}

async function computeHash(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLen);
  const hash = await scrypt(password, salt, SCRYPT.keyLen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 256 * SCRYPT.N * SCRYPT.r });
  return ["scrypt", SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString("base64url"), hash.toString("base64url")].join("$");
}

/** Constant-time check; malformed or foreign-format hashes never match (and cost no hash). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  // Refuse parameters outside what this code writes: a tampered row must not make us burn memory.
  if (!N || !r || !p || N > 2 ** 17 || N < 2 ** 14 || r !== 8 || p !== 1) return false;
  const salt = Buffer.from(parts[4]!, "base64url");
  const expected = Buffer.from(parts[5]!, "base64url");
  if (expected.length !== SCRYPT.keyLen) return false;
  const actual = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 256 * N * r });
  return timingSafeEqual(actual, expected);
}

/** Passwords: 10–128 characters (NIST 800-63B: length, no composition rules). */
export function passwordProblem(password: unknown): string | null {
  if (typeof password !== "string") return "password is required";
  const n = [...password].length;
  if (n < 10) return "password must be at least 10 characters";
  if (n > 128) return "password must be at most 128 characters";
  return null;
}

/** SHA-256 (base64url) of a high-entropy random value (activation codes, refresh tokens): no slow hash needed. */
export const sha256 = (s: string) => createHash("sha256").update(s).digest("base64url");

/** A one-time code people can type: 16 characters of Crockford base32 (80 bits), in groups of four. */
export function newActivationCode(): string {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const bytes = randomBytes(16);
  const chars = [...bytes].map((b) => alphabet[b & 31]).join("");
  return chars.match(/.{4}/g)!.join("-");
}

/** Canonical form of a typed code (case, spaces and dashes do not matter). */
export const normalizeActivationCode = (s: string) => s.toUpperCase().replace(/[^0-9A-Z]/g, "");

/**
 * The progressive delay after `failures` consecutive failed sign-ins: three tries are free (a short
 * pause), then 1 s, 2 s, 4 s, ... up to `maxMs` (never a lock: after the delay one attempt is
 * checked again). HUB_SIGNIN_MAX_DELAY_MS sets the cap.
 */
export function signInDelayMs(failures: number, maxMs = readSetting("HUB_SIGNIN_MAX_DELAY_MS")): number {
  if (failures <= 3) return 300;
  return Math.min(maxMs, 1000 * 2 ** Math.min(failures - 4, 20));
}

import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { readSetting } from "../../../lib/config.ts";

/** Access tokens live 15 minutes; a retired key stays published that long after retirement. */
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
const ALG = "ES256";

export interface StoredKey {
  kid: string;
  /** ISO-8601. */
  createdAt: string;
  /** ISO-8601; set when a newer key took over signing. */
  retiredAt?: string;
  /** Private ES256 JWK (d included). */
  privateJwk: JWK;
}

interface LoadedKey extends StoredKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * The signing keys of the token service. The newest unretired key signs; every key stays in the
 * JWKS (and verifies) until ACCESS_TOKEN_TTL after its retirement, so rotation never invalidates a
 * token that was valid when issued.
 */
export class KeySet {
  private fileMtimeMs = 0;
  private lastReloadMs = 0;
  private timer: NodeJS.Timeout | undefined;

  private keys: LoadedKey[];
  private readonly file?: string;

  private constructor(keys: LoadedKey[], file?: string) {
    this.keys = keys;
    this.file = file;
  }

  /**
   * Re-reads the key file when it changed on disk: `npm run cli -- keys rotate` (another process)
   * or another gateway sharing the file rotated. Without this a running gateway would keep
   * signing with the retired key and refuse tokens of the new one until restarted.
   */
  async reloadIfChanged(): Promise<boolean> {
    this.lastReloadMs = Date.now();
    if (!this.file || !existsSync(this.file)) return false;
    const mtime = statSync(this.file).mtimeMs;
    if (mtime === this.fileMtimeMs) return false;
    const stored = (JSON.parse(readFileSync(this.file, "utf8")) as { keys: StoredKey[] }).keys;
    const loaded = await Promise.all(stored.filter((k) => isPublished(k, new Date())).map(load));
    if (!loaded.some((k) => !k.retiredAt)) return false; // never end up without a signing key
    this.keys = loaded.sort((a, b) => Number(!!a.retiredAt) - Number(!!b.retiredAt) || b.createdAt.localeCompare(a.createdAt));
    this.fileMtimeMs = mtime;
    return true;
  }

  /** An unknown kid may be a key just added to the shared file: look again, at most every 5 s. */
  async refreshForUnknownKid(): Promise<void> {
    if (this.file && Date.now() - this.lastReloadMs >= 5_000) await this.reloadIfChanged().catch(() => false);
  }

  /** Polls the key file (unref'd timer). */
  watch(intervalMs = 30_000): this {
    if (this.file && !this.timer) {
      this.noteFile();
      this.timer = setInterval(() => void this.reloadIfChanged().catch(() => false), intervalMs);
      this.timer.unref();
    }
    return this;
  }

  close() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private noteFile() {
    if (this.file && existsSync(this.file)) this.fileMtimeMs = statSync(this.file).mtimeMs;
  }

  static async fromStored(stored: StoredKey[], file?: string): Promise<KeySet> {
    const keys = await Promise.all(stored.map(load));
    const set = new KeySet(keys, file);
    if (!set.keys.some((k) => !k.retiredAt)) await set.rotate();
    return set;
  }

  /**
   * From configuration: HUB_SIGNING_KEYS (JSON array of private JWKs with kid, newest first),
   * HUB_SIGNING_KEYS_FILE, or else `<dataDir>/signing-keys.json` (created on first use, mode 0600),
   * or else an in-memory key (tests).
   */
  static async fromConfig(opts: { keys?: JWK[]; env?: NodeJS.ProcessEnv; dataDir?: string; reloadIntervalMs?: number }): Promise<KeySet> {
    const env = opts.env ?? process.env;
    const configured = readSetting("HUB_SIGNING_KEYS", env);
    const jwks = opts.keys ?? (configured ? (JSON.parse(configured) as JWK[]) : undefined);
    if (jwks?.length) {
      // Configured keys: the first signs, the others only verify (they are being rotated out).
      const now = new Date().toISOString();
      return KeySet.fromStored(jwks.map((jwk, i) => ({ kid: requireKid(jwk), createdAt: now, retiredAt: i === 0 ? undefined : now, privateJwk: jwk })));
    }
    const file = readSetting("HUB_SIGNING_KEYS_FILE", env) ?? (opts.dataDir ? path.join(opts.dataDir, "signing-keys.json") : undefined);
    if (file && existsSync(file)) return (await KeySet.fromStored((JSON.parse(readFileSync(file, "utf8")) as { keys: StoredKey[] }).keys, file)).watch(opts.reloadIntervalMs);
    const set = new KeySet([], file);
    await set.rotate();
    return set.watch(opts.reloadIntervalMs);
  }

  /** Adds a new signing key; the previous one retires (still verifies until its tokens expired). */
  async rotate(now = new Date()): Promise<string> {
    const { privateKey } = await generateKeyPair(ALG, { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const kid = `${now.toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`;
    for (const k of this.keys) k.retiredAt ??= now.toISOString();
    this.keys.unshift(await load({ kid, createdAt: now.toISOString(), privateJwk: { ...privateJwk, kid, alg: ALG, use: "sig" } }));
    this.prune(now);
    this.save();
    return kid;
  }

  signing(): { kid: string; privateKey: CryptoKey } {
    const k = this.keys.find((x) => !x.retiredAt);
    if (!k) throw new Error("no signing key");
    return { kid: k.kid, privateKey: k.privateKey };
  }

  /** The public key for a kid, if it is still published. */
  verificationKey(kid: string, now = new Date()): CryptoKey | undefined {
    const k = this.keys.find((x) => x.kid === kid);
    return k && isPublished(k, now) ? k.publicKey : undefined;
  }

  jwks(now = new Date()): { keys: JWK[] } {
    return { keys: this.keys.filter((k) => isPublished(k, now)).map((k) => k.publicJwk) };
  }

  private prune(now: Date) {
    this.keys = this.keys.filter((k) => isPublished(k, now));
  }

  private save() {
    if (!this.file) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const stored: StoredKey[] = this.keys.map(({ kid, createdAt, retiredAt, privateJwk }) => ({ kid, createdAt, retiredAt, privateJwk }));
    // Write then rename: a gateway reloading the file never reads half of it.
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ keys: stored }, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
    this.noteFile();
  }
}

function requireKid(jwk: JWK): string {
  if (!jwk.kid) throw new Error("every configured signing key needs a kid");
  return jwk.kid;
}

function isPublished(k: StoredKey, now: Date): boolean {
  return !k.retiredAt || new Date(k.retiredAt).getTime() + ACCESS_TOKEN_TTL_SECONDS * 1000 > now.getTime();
}

async function load(k: StoredKey): Promise<LoadedKey> {
  if (k.privateJwk.kty !== "EC" || k.privateJwk.crv !== "P-256" || !k.privateJwk.d) throw new Error(`signing key ${k.kid} is not a private P-256 (ES256) key`);
  const privateKey = (await importJWK(k.privateJwk, ALG)) as CryptoKey;
  const { d: _d, ...pub } = k.privateJwk;
  const publicJwk: JWK = { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid: k.kid, alg: ALG, use: "sig" };
  const publicKey = (await importJWK(publicJwk, ALG)) as CryptoKey;
  return { ...k, privateKey, publicKey, publicJwk };
}

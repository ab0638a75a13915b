import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { promises as dns } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { Agent } from "undici";
import { loadEnv } from "../../../../lib/config.ts";
import { isProduction } from "../../../../lib/deployment.ts";

/**
 * Where webhooks may go (SSRF). A URL is http(s), without credentials, and its host resolves only
 * to public unicast addresses: loopback, private (RFC 1918, ULA), link-local (cloud metadata
 * 169.254.169.254), CGNAT, multicast, reserved and IPv4-mapped/embedded forms of those are refused.
 * ipaddr.js classifies the address (its `range()` is "unicast" only for public addresses).
 * Checked when an endpoint is registered (every resolved address) AND at every delivery, inside the
 * connection's own DNS lookup (undici Agent `connect.lookup`): the socket connects to exactly the
 * addresses that were checked, so a name that re-resolves to 127.0.0.1 later (DNS rebinding) is refused.
 *
 * Exceptions: hosts listed in HUB_WEBHOOK_ALLOWED_HOSTS (exact host as written in the URL: tests,
 * an on-premises receiver), and the demo (HUB_DEMO=1, or unset on the embedded database), where a
 * developer's receiver on localhost is the point.
 */

export interface UrlPolicy {
  allowedHosts: ReadonlySet<string>;
  /** Demo: private and loopback addresses allowed. */
  allowPrivate: boolean;
}

export function urlPolicy(env: NodeJS.ProcessEnv = process.env): UrlPolicy {
  const e = loadEnv(env);
  const demo = !isProduction(env) && (e.HUB_DEMO ? e.HUB_DEMO === "1" : !e.DATABASE_URL);
  const allowedHosts = new Set(
    e.HUB_WEBHOOK_ALLOWED_HOSTS.split(",")
      .map((h) => normalHost(h.trim()))
      .filter(Boolean),
  );
  return { allowedHosts, allowPrivate: demo };
}

/** The host as the URL parser writes it, without IPv6 brackets, lower case. */
export function normalHost(host: string): string {
  return host.replace(/^\[|\]$/g, "").toLowerCase();
}

/** Why an address may not receive webhooks, or null for a public unicast address. */
export function refusedAddress(address: string): string | null {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  let ip = ipaddr.parse(address);
  // ::ffff:127.0.0.1 and friends: judge the IPv4 address inside.
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  const range = ip.range();
  return range === "unicast" ? null : `${address} is a ${range} address`;
}

/** Problems of a URL's form (no DNS): scheme, credentials, fragment. Null when fine. */
export function urlFormProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return "url must be an absolute http(s) URL";
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return "url must use http or https";
  if (u.username || u.password) return "url must not carry credentials (user:password@); authenticate deliveries by their signature";
  if (u.hash) return "url must not have a #fragment";
  if (!u.hostname) return "url needs a host";
  return null;
}

const isAllowedHost = (policy: UrlPolicy, host: string) => policy.allowPrivate || policy.allowedHosts.has(normalHost(host));

/**
 * Registration-time check: every address the host resolves to must be public (unless allowed).
 * Returns the reason for a refusal, or null.
 */
export async function urlAddressProblem(raw: string, policy: UrlPolicy = urlPolicy()): Promise<string | null> {
  const u = new URL(raw);
  const host = normalHost(u.hostname);
  if (isAllowedHost(policy, host)) return null;
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      return `url's host ${host} does not resolve`;
    }
  }
  if (!addresses.length) return `url's host ${host} does not resolve`;
  for (const a of addresses) {
    const why = refusedAddress(a);
    if (why) return `url's host ${host} resolves to a non-public address (${why})`;
  }
  return null;
}

/** Thrown into a delivery when its target is refused at connection time; recorded as its lastError. */
export class RefusedAddressError extends Error {}

/**
 * The undici Agent deliveries go through: its DNS lookup refuses non-public addresses (unless the
 * host is allowed), so the check and the connection use the same answer. IP-literal hosts skip DNS
 * and are checked before the request (`checkLiteralHost`).
 */
export function guardedAgent(policy: UrlPolicy, opts: { connectTimeoutMs: number }): Agent {
  // No per-origin connection limit: endpoints of different partners can share a host (an
  // integration platform), and a per-origin pool would let one partner's hanging requests queue
  // another's. Concurrency is bounded per endpoint and per process by the dispatcher's claims.
  return new Agent({
    keepAliveTimeout: 10_000,
    connect: {
      timeout: opts.connectTimeoutMs,
      lookup(hostname, options, callback) {
        dnsLookup(hostname, { ...options, all: true, verbatim: true }, (err, addresses) => {
          if (err) return callback(err, "", 4);
          const list = addresses as unknown as LookupAddress[];
          if (!isAllowedHost(policy, hostname)) {
            for (const a of list) {
              const why = refusedAddress(a.address);
              if (why) return callback(new RefusedAddressError(`refused: ${hostname} resolves to a non-public address (${why})`), "", 4);
            }
          }
          if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
          const first = list[0];
          if (!first) return callback(new Error(`${hostname} does not resolve`), "", 4);
          callback(null, first.address, first.family);
        });
      },
    },
  });
}

/** An IP-literal host is connected to without DNS: check it before sending. Null when fine. */
export function literalHostProblem(raw: string, policy: UrlPolicy): string | null {
  const host = normalHost(new URL(raw).hostname);
  if (!isIP(host) || isAllowedHost(policy, host)) return null;
  const why = refusedAddress(host);
  return why ? `refused: ${why}` : null;
}

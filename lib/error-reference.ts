import { ERROR_CODES, type ErrorCode } from "./errors.ts";

/**
 * The error reference partners read (docs/errors.md, generated from here by `npm run
 * generate:errors` and checked fresh by tests/tooling/error-docs.test.ts): every `extensions.code`
 * a client can see, the HTTP status it comes with, whether retrying can help, and the
 * `extensions.reason` values that refine a code. The codes' meanings are ERROR_CODES (lib/errors.ts).
 */

/** Codes produced by the GraphQL layer (parsing, validation, transport) rather than by the hub's rules. */
export const TRANSPORT_CODES = {
  GRAPHQL_PARSE_FAILED: "The query is not valid GraphQL syntax, or exceeds the gateway's size, depth, alias or selection limits before parsing finished.",
  GRAPHQL_VALIDATION_FAILED: "The query does not validate against the public schema (unknown field, wrong argument type, missing variable).",
  BAD_REQUEST: "The HTTP request is not a GraphQL request the gateway accepts: body not JSON, wrong method, body too large (413).",
  PERSISTED_QUERY_NOT_FOUND: "Automatic persisted queries: the hash is unknown; send the full query.",
  PERSISTED_QUERY_NOT_SUPPORTED: "Persisted queries are not enabled for this request.",
  OPERATION_RESOLUTION_FAILURE: "operationName names no operation of the document, or several operations and no operationName.",
} as const;

type AnyCode = ErrorCode | keyof typeof TRANSPORT_CODES;

/** HTTP status of a response whose only error is this code (GraphQL errors beside data come with 200). */
export const HTTP_STATUS: Partial<Record<AnyCode, string>> = {
  UNAUTHENTICATED: "401 (with WWW-Authenticate: Bearer)",
  FORBIDDEN: "200 with data null for the field; 403 when refused before execution (ORIGIN_NOT_ALLOWED)",
  RATE_LIMITED: "429 with Retry-After (the token endpoint after repeated failed client authentications)",
  QUERY_TOO_COSTLY: "400 with no data (refused before execution)",
  RESPONSE_TOO_LARGE: "200 with no data",
  SHUTTING_DOWN: "503 with Retry-After and Connection: close (refused before execution)",
  SERVICE_UNAVAILABLE:
    "200 with the fields of the subgraph that lost its database null; 503 with Retry-After while an instance is starting (refused before execution); 502 from the export download when its subgraph is unreachable",
  GRAPHQL_PARSE_FAILED: "400",
  GRAPHQL_VALIDATION_FAILED: "400",
  BAD_REQUEST: "400, 405 or 413",
  INTERNAL_SERVER_ERROR: "200 with the field null (the message is masked; quote the requestId)",
};

/** Whether the same request may succeed later without changing it. */
export const RETRYABLE: Partial<Record<AnyCode, string>> = {
  RATE_LIMITED: "yes, after Retry-After",
  SERVICE_UNAVAILABLE: "yes, after extensions.retryAfterSeconds, with the same idempotency key",
  SHUTTING_DOWN: "yes, on a new connection after Retry-After (another instance answers), with the same idempotency key",
  GATEWAY_TIMEOUT: "yes (mutations with the same idempotency key)",
  ACCESS_LOG_UNAVAILABLE: "yes",
  INTERNAL_SERVER_ERROR: "perhaps; report the requestId if it persists",
  UNAUTHENTICATED: "with a new token",
};

/** `extensions.reason` values: a finer cause under a code. */
export const REASONS: Record<string, { code: AnyCode; meaning: string }> = {
  TOKEN_MISSING: { code: "UNAUTHENTICATED", meaning: "No Authorization: Bearer header." },
  TOKEN_EXPIRED: { code: "UNAUTHENTICATED", meaning: "The access token's exp has passed (access tokens live 15 minutes): refresh or request a new one." },
  TOKEN_NOT_YET_VALID: { code: "UNAUTHENTICATED", meaning: "nbf/iat lie in the future (check the client's clock)." },
  TOKEN_BAD_ISSUER: { code: "UNAUTHENTICATED", meaning: "Issued by another authorization server." },
  TOKEN_BAD_AUDIENCE: { code: "UNAUTHENTICATED", meaning: "Meant for another audience than this hub's API." },
  TOKEN_UNKNOWN_KID: { code: "UNAUTHENTICATED", meaning: "Signed with a key the hub does not publish (rotated out, or forged)." },
  TOKEN_ALG_NOT_ALLOWED: { code: "UNAUTHENTICATED", meaning: "Signed with an algorithm the hub does not accept (only ES256; never none or HS*)." },
  TOKEN_BAD_SIGNATURE: { code: "UNAUTHENTICATED", meaning: "The signature does not verify: the token was altered." },
  TOKEN_MALFORMED: { code: "UNAUTHENTICATED", meaning: "Not a well-formed access token of this hub (claims missing or contradictory)." },
  TOKEN_WRONG_TYPE: { code: "UNAUTHENTICATED", meaning: "Not an access token (e.g. a refresh token or an ID token sent as a bearer token)." },
  TOKEN_REVOKED: { code: "UNAUTHENTICATED", meaning: "The client, grant, session, partner or member sign-in was revoked or disabled; refused within 5 s of the revocation." },
  ORIGIN_NOT_ALLOWED: { code: "FORBIDDEN", meaning: "A browser page used a token from an origin its client does not list (setApiClientAllowedOrigins)." },
};

export function errorReferenceMarkdown(): string {
  const cell = (s: string | undefined) => (s ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    "# Error reference",
    "",
    "<!-- Generated by `npm run generate:errors` from lib/errors.ts and lib/error-reference.ts; do not edit. -->",
    "",
    "Every error carries a stable `extensions.code` and the request's `extensions.requestId` (also in",
    "the `x-request-id` response header: quote it to the operator). Branch on the code, never on the",
    'message. A field-level error leaves the rest of the answer intact (`errorPolicy: "all"` in Apollo',
    "Client). Internal failures are masked as INTERNAL_SERVER_ERROR and logged under the request id.",
    "",
    "## Codes of the hub's rules",
    "",
    "| code | meaning | HTTP | retry |",
    "|---|---|---|---|",
    ...Object.entries(ERROR_CODES).map(
      ([code, meaning]) => `| \`${code}\` | ${cell(meaning)} | ${cell(HTTP_STATUS[code as AnyCode] ?? "200 (error beside data)")} | ${cell(RETRYABLE[code as AnyCode] ?? "no: change the request")} |`,
    ),
    "",
    "## Codes of the GraphQL layer",
    "",
    "| code | meaning | HTTP |",
    "|---|---|---|",
    ...Object.entries(TRANSPORT_CODES).map(([code, meaning]) => `| \`${code}\` | ${cell(meaning)} | ${cell(HTTP_STATUS[code as AnyCode] ?? "200")} |`),
    "",
    "## Reasons (`extensions.reason`)",
    "",
    "| reason | under code | meaning |",
    "|---|---|---|",
    ...Object.entries(REASONS).map(([reason, r]) => `| \`${reason}\` | \`${r.code}\` | ${cell(r.meaning)} |`),
    "",
    "## Other extensions",
    "",
    "- `field`: with BAD_USER_INPUT, the input field that failed (dotted path).",
    "- `category`: with CONSENT_REQUIRED, the data category the member has not consented to share.",
    "- `scope`: with FORBIDDEN for an app acting for a member, the scope its grant lacks.",
    "- `estimatedCost`, `allowedCost`: with QUERY_TOO_COSTLY.",
    "- `responseBytes`, `allowedBytes`: with RESPONSE_TOO_LARGE.",
    "- `retryAfterSeconds`: with SERVICE_UNAVAILABLE, SHUTTING_DOWN and RATE_LIMITED.",
    "- `replacement`: with AMOUNT_EXCEEDS_INT, the 64-bit field to read instead.",
    "",
  ];
  return lines.join("\n");
}

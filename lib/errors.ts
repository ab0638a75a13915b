import { GraphQLError } from "graphql";

/**
 * Domain errors with a stable `extensions.code` (DESIGN.md §8). Anything else that escapes a
 * resolver is an internal error: masked for the client, logged with the request id.
 */
export const ERROR_CODES = {
  UNAUTHENTICATED: "No valid credentials: missing, expired or malformed token, or a call that bypassed the gateway.",
  FORBIDDEN: "The caller is known but this action is not allowed for its role.",
  NOT_FOUND: "The object does not exist or the caller may not see it (the two are indistinguishable on purpose).",
  BAD_USER_INPUT: "An argument failed validation; nothing was written.",
  INSUFFICIENT_POINTS: "The wallet's available points (balance minus holds) do not cover the request.",
  IDEMPOTENCY_CONFLICT: "The idempotency key was already used with a different request body.",
  CONSENT_REQUIRED: "The member has not consented to share this data category with the caller for the declared purpose.",
  OFFER_NOT_ACTIVE: "The offer is not active or is outside its window.",
  OFFER_BUDGET_EXHAUSTED: "The offer's remaining budget does not cover the bonus.",
  OFFER_LIMIT_REACHED: "The member has used the offer as often as its per-member limit allows.",
  OFFER_NOT_ELIGIBLE:
    "The member does not meet the offer's eligibility now: its tier is below the offer's minimum tier, its lifecycle segment is not among the offer's segments, or it has no active consent for the offer's requiredPurpose with one of its co-issuers.",
  BENEFIT_NOT_AVAILABLE:
    "The benefit is not one of the member's standing tier benefits at your partner under the program in force (another tier's benefit, an unknown code, or a benefit for other partners); nothing was recorded.",
  HOLD_ALREADY_RESOLVED: "The hold was already captured, voided or expired.",
  REDEMPTION_CODE_INVALID: "The redemption code is unknown, expired, already used, tampered with or for another partner or amount.",
  PERIOD_CLOSED: "The settlement period is approved (immutable) or overlaps an approved run.",
  AMOUNT_EXCEEDS_INT: "A deprecated 32-bit Int amount field holds a value beyond ±2^31; read the 64-bit field named in extensions.replacement (BigInt, a decimal string) instead.",
  RATE_LIMITED:
    "The partner's or the API client's rate limit (requests, or estimated cost, per 60-second window; `viewer.limits` shows them) is used up; nothing was executed. HTTP 429 with a Retry-After header; retry after extensions.retryAfterSeconds (seconds). extensions.scope (PARTNER or API_CLIENT), extensions.kind (REQUESTS or COST) and extensions.limit say which limit.",
  ACCESS_LOG_UNAVAILABLE:
    "The read disclosed member data but its entry in the member's data-access log could not be written, so the subgraph's answer was withheld (fail closed): its fields are null. Retry later; a write in the same request may have committed (retry it with the same idempotency key).",
  SERVICE_UNAVAILABLE:
    "The hub cannot reach its database right now (restarting, failing over, connection lost). Nothing of the request was committed unless a retry with the same idempotency key says so: retry after extensions.retryAfterSeconds (seconds), with the same idempotency key.",
  SHUTTING_DOWN:
    "This hub instance is stopping (SIGTERM: draining its requests in flight); nothing of the request ran. HTTP 503 with Retry-After and Connection: close; retry after extensions.retryAfterSeconds (seconds), on a new connection (another instance answers), with the same idempotency key.",
  QUERY_TOO_COSTLY:
    "The operation's estimated cost (objects it may return, from list sizes: `first` or documented defaults) is above the caller's role maximum; nothing was executed. extensions.estimatedCost and extensions.allowedCost give both figures.",
  RESPONSE_TOO_LARGE: "The response would exceed the gateway's size limit; no data is returned (never a cut-off answer). extensions.responseBytes and extensions.allowedBytes give both figures.",
  GATEWAY_TIMEOUT: "A subgraph did not answer within its fetch timeout or the request's deadline; the fields it would have given are null. Retrying later may succeed (mutations carry idempotency keys).",
  INTERNAL_SERVER_ERROR: "An unexpected failure; details are logged under the request id and never sent to the client.",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class HubError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extensions } });
  }
}

/** Raised when a request has no valid identity. */
export const unauthenticated = (message = "Authentication required") => new HubError("UNAUTHENTICATED", message);
/** Raised when the role may not perform the action at all (never for "this object is not yours"). */
export const forbidden = (message = "Not allowed") => new HubError("FORBIDDEN", message);
/** Raised for an object that does not exist or that the caller may not see. */
export const notFound = (what: string, id?: string) => new HubError("NOT_FOUND", id ? `${what} ${id} not found` : `${what} not found`);
/** Raised when input fails validation (a field name, if any, goes in extensions.field). */
export const badInput = (message: string, field?: string) => new HubError("BAD_USER_INPUT", message, field ? { field } : {});

/**
 * Codes a client may see as they are; everything else is masked. INTERNAL_SERVER_ERROR is never
 * passed through: Apollo gives that code to any unexpected error, message (SQL, stack) and all.
 */
export const PUBLIC_CODES = new Set<string>([
  ...Object.keys(ERROR_CODES).filter((c) => c !== "INTERNAL_SERVER_ERROR"),
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
  "BAD_REQUEST",
]);

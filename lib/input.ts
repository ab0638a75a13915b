import type { z } from "zod";
import { badInput } from "./errors.ts";

/**
 * The first problem zod found in an input: its message and the path of the offending field
 * ("coIssuers.1.shareBps"), or `field` when the problem is the input as a whole. Bulk operations
 * report it per row; single ones throw it (`parseInput`).
 */
export function firstIssue(e: z.ZodError, field?: string): { message: string; field?: string } {
  const issue = e.issues[0];
  return { message: issue?.message ?? "Invalid input", field: issue?.path.length ? issue.path.join(".") : field };
}

/**
 * Validates input at the edge of a service: the first problem becomes BAD_USER_INPUT with the
 * offending field in extensions.field, and nothing is written.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, field?: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = firstIssue(parsed.error, field);
  throw badInput(issue.message, issue.field);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A syntactically valid uuid: anything else cannot name a row, and must not reach a uuid column (Postgres would raise, not answer "none"). */
export function isUuid(v: string): boolean;
export function isUuid(v: unknown): v is string;
export function isUuid(v: unknown): boolean {
  return typeof v === "string" && UUID.test(v);
}

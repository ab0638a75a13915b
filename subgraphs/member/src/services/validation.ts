import type { z } from "zod";
import { badInput } from "../../../../lib/errors.ts";

/**
 * Validates input at the edge: the first problem becomes BAD_USER_INPUT with the offending field in
 * extensions.field, and nothing is written.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, field?: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? issue.path.join(".") : field;
  return (() => {
    throw badInput(issue?.message ?? "Invalid input", path);
  })();
}

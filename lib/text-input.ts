import { createRequire } from "node:module";
import type { DocumentNode, FieldNode, GraphQLField, GraphQLInputType, GraphQLSchema, OperationDefinitionNode } from "graphql";
import { badInput } from "./errors.ts";

/**
 * Text inputs are checked once, at each subgraph's edge, before anything executes (issue 14 §5):
 * every String and ID value of every argument and input field, literal or variable, nested in
 * input objects and lists. Domain rules (formats, the field-specific lengths such as
 * displayName ≤ 100, reference ≤ 128, reason ≤ 500) stay in the services; this check keeps out
 * what no field may hold, text PostgreSQL refuses (NUL, SQLSTATE 22021) or that would corrupt logs
 * and displays.
 *
 * Refused, with BAD_USER_INPUT and `extensions.field` = the value's path (`input.displayName`,
 * `inputs[3].reference`):
 * - NUL and the other C0 controls (U+0000–U+001F), DEL (U+007F) and the C1 controls
 *   (U+0080–U+009F); tab, line feed and carriage return only in free-text fields (FREE_TEXT_FIELDS);
 * - lone UTF-16 surrogates (not text; PostgreSQL cannot store them in UTF-8);
 * - strings longer than MAX_TEXT_LENGTH UTF-16 code units (10,000), whatever the field.
 * Allowed: every other Unicode scalar value, including right-to-left marks, combining marks and emoji.
 */
/**
 * graphql's functions from the same module instance as the schemas (its CommonJS build, which
 * Pothos and Apollo load): its type checks are `instanceof`, and under vitest an ESM import of
 * "graphql" from this file resolves to the other build (index.mjs).
 */
const { getArgumentValues, getNamedType, isInputObjectType, isListType, isNonNullType, TypeInfo, visit, visitWithTypeInfo } = createRequire(import.meta.url)("graphql") as typeof import("graphql");

export const MAX_TEXT_LENGTH = 10_000;

/** Input fields and arguments whose value is prose: tab and line breaks are meaningful there. */
export const FREE_TEXT_FIELDS: ReadonlySet<string> = new Set(["description", "reason", "note"]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_EXCEPT_WHITESPACE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `value` is not acceptable text for the field `name`, or null when it is. */
export function textProblem(value: string, name: string): string | null {
  if (value.length > MAX_TEXT_LENGTH) return `is longer than ${MAX_TEXT_LENGTH.toLocaleString("en")} characters`;
  if (LONE_SURROGATE.test(value)) return "contains an unpaired UTF-16 surrogate (not valid text)";
  const control = (FREE_TEXT_FIELDS.has(name) ? CONTROL_EXCEPT_WHITESPACE : CONTROL).exec(value);
  if (control) return `contains the control character U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  return null;
}

/** Checks one coerced value of `type`; throws BAD_USER_INPUT naming `path`. */
function checkValue(type: GraphQLInputType, value: unknown, path: string, name: string): void {
  if (value == null) return;
  if (isNonNullType(type)) {
    checkValue(type.ofType, value, path, name);
    return;
  }
  if (isListType(type)) {
    if (Array.isArray(value)) value.forEach((v, i) => checkValue(type.ofType, v, `${path}[${i}]`, name));
    return;
  }
  const named = getNamedType(type);
  if (isInputObjectType(named)) {
    if (typeof value !== "object" || Array.isArray(value)) return; // not an object: execution reports it
    const fields = named.getFields();
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const f = fields[k];
      if (f) checkValue(f.type, v, `${path}.${k}`, k);
    }
    return;
  }
  if ((named.name === "String" || named.name === "ID") && typeof value === "string") {
    const problem = textProblem(value, name);
    if (problem) throw badInput(`${path} ${problem}`, path);
  }
}

/**
 * Walks the operation's fields (fragments included) and checks every argument value, coerced as
 * execution will see it (variables substituted, defaults applied). Runs after validation, so every
 * field and argument exists.
 */
export function checkTextInputs(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown>): void {
  const typeInfo = new TypeInfo(schema);
  const check = (node: FieldNode) => {
    const def = typeInfo.getFieldDef() as GraphQLField<unknown, unknown> | null;
    if (!def || !node.arguments?.length) return;
    let args: Record<string, unknown>;
    try {
      args = getArgumentValues(def, node, variables);
    } catch {
      return; // coercion errors are reported by execution itself, as today
    }
    for (const a of def.args) checkValue(a.type, args[a.name], a.name, a.name);
  };
  const fragments = document.definitions.filter((d) => d.kind === "FragmentDefinition");
  for (const root of [operation, ...fragments]) {
    visit(root, visitWithTypeInfo(typeInfo, { Field: (node) => check(node) }));
  }
}

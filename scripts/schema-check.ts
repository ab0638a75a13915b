// `npm run schema:check`: what changed in the public API since the last release, by GraphQL
// Inspector's rules (@graphql-inspector/core `diff`), and whether every breaking change is recorded.
// The last release is the newest file in schema/released/ (named by version); the current API is
// schema/public.graphql (`npm run generate`). A breaking change passes only when CHANGELOG.md names
// its schema coordinate (e.g. `Member.linkedAccounts`) under a "Breaking changes" heading, and a
// removed field or enum value only when the release already marked it @deprecated (the deprecation
// period). tests/tooling/schema.test.ts runs the same check in CI.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { type Change, CriticalityLevel, diff } from "@graphql-inspector/core";
import { buildSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType } from "graphql";
import { SCHEMA_DIR } from "./schema-tools.ts";

export const RELEASED_DIR = path.join(SCHEMA_DIR, "released");
export const CHANGELOG = path.resolve(SCHEMA_DIR, "../CHANGELOG.md");

/** The newest released public schema: schema/released/<semver>.graphql with the highest version. */
export function lastRelease(): { version: string; sdl: string } {
  const versions = readdirSync(RELEASED_DIR)
    .filter((f) => /^\d+\.\d+\.\d+\.graphql$/.test(f))
    .map((f) => f.replace(/\.graphql$/, ""))
    .sort((a, b) => {
      const [x, y] = [a, b].map((v) => v.split(".").map(Number));
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
  const version = versions.at(-1);
  if (!version) throw new Error(`no released schema in ${RELEASED_DIR}`);
  return { version, sdl: readFileSync(path.join(RELEASED_DIR, `${version}.graphql`), "utf8") };
}

export interface SchemaReview {
  changes: Change[];
  breaking: Change[];
  /** Breaking changes CHANGELOG.md does not name, or removals of elements the release had not deprecated. */
  unrecorded: { path: string; message: string; why: string }[];
}

/** The text under every "Breaking changes" heading of the changelog (to the next heading of any level). */
export function breakingSections(changelog: string): string {
  const out: string[] = [];
  let inside = false;
  for (const line of changelog.split("\n")) {
    if (/^#{1,6}\s/.test(line)) inside = /breaking changes/i.test(line);
    else if (inside) out.push(line);
  }
  return out.join("\n");
}

function deprecatedIn(sdl: string, coordinate: string): boolean {
  const schema = buildSchema(sdl, { assumeValidSDL: true });
  const [typeName, member] = coordinate.split(".");
  const type = schema.getType(typeName);
  if (!type || !member) return false;
  if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) return Boolean(type.getFields()[member]?.deprecationReason);
  if (isEnumType(type)) return Boolean(type.getValue(member)?.deprecationReason);
  return false;
}

export async function reviewSchema(releasedSdl: string, currentSdl: string, changelog: string): Promise<SchemaReview> {
  const changes = await diff(buildSchema(releasedSdl, { assumeValidSDL: true }), buildSchema(currentSdl, { assumeValidSDL: true }));
  const breaking = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
  const recorded = breakingSections(changelog);
  const unrecorded: SchemaReview["unrecorded"] = [];
  for (const c of breaking) {
    const coordinate = c.path ?? "";
    // A coordinate counts when written as code (`Member.wallet`) or plainly, whole (not a prefix of a longer one).
    const named = coordinate !== "" && new RegExp(`(^|[^A-Za-z0-9_.])${coordinate.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![A-Za-z0-9_])`).test(recorded);
    if (!named) unrecorded.push({ path: coordinate, message: c.message, why: "not named under a 'Breaking changes' heading in CHANGELOG.md" });
    else if (/_REMOVED$/.test(c.type) && /^(FIELD|ENUM_VALUE|INPUT_FIELD)_REMOVED$/.test(c.type) && !deprecatedIn(releasedSdl, coordinate))
      unrecorded.push({ path: coordinate, message: c.message, why: "removed without a deprecation period (not @deprecated in the last release)" });
  }
  return { changes, breaking, unrecorded };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const release = lastRelease();
  const current = readFileSync(path.join(SCHEMA_DIR, "public.graphql"), "utf8");
  const review = await reviewSchema(release.sdl, current, readFileSync(CHANGELOG, "utf8"));
  const by = (level: CriticalityLevel) => review.changes.filter((c) => c.criticality.level === level);
  console.log(
    `public schema vs release ${release.version}: ${review.changes.length} changes (${review.breaking.length} breaking, ${by(CriticalityLevel.Dangerous).length} dangerous, ${by(CriticalityLevel.NonBreaking).length} safe)`,
  );
  for (const c of review.breaking) console.log(`  breaking  ${c.path ?? ""}: ${c.message}`);
  for (const c of by(CriticalityLevel.Dangerous)) console.log(`  dangerous ${c.path ?? ""}: ${c.message}`);
  if (review.unrecorded.length) {
    console.error(`\n${review.unrecorded.length} breaking change(s) not recorded:`);
    for (const u of review.unrecorded) console.error(`  ${u.path}: ${u.message} — ${u.why}`);
    process.exit(1);
  }
}

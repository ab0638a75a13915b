// `npm run generate:errors`: writes docs/errors.md from lib/errors.ts and lib/error-reference.ts.
// tests/tooling/error-docs.test.ts fails when the checked-in file differs.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { errorReferenceMarkdown } from "../lib/error-reference.ts";

export const ERROR_DOCS = path.resolve(import.meta.dirname, "../docs/errors.md");

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(ERROR_DOCS, errorReferenceMarkdown());
  console.log("docs/errors.md");
}

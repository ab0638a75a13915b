import type { CodegenConfig } from "@graphql-codegen/cli";

// Types for the app's operations, generated from the hub's published schema (schema/public.graphql,
// also served at GET /schema.graphql). Regenerate: `npx graphql-codegen --config examples/partner-app/codegen.ts`.
const config: CodegenConfig = {
  schema: "../../schema/public.graphql",
  documents: ["src/**/*.ts", "!src/gql/**/*"],
  ignoreNoDocuments: false,
  // ESM imports with extensions inside src/gql (Node's module resolution, as the rest of the app).
  emitLegacyCommonJSImports: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        // The hub's custom scalars travel as strings: keep them strings (never JS numbers).
        scalars: {
          DateTime: { input: "string", output: "string" },
          Decimal: { input: "string", output: "string" },
          BigInt: { input: "string", output: "string" },
        },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;

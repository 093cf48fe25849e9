/**
 * The schema library of the handlers: zod 4's `zod/mini` (tree-shakable functions instead of
 * methods: a fraction of full zod's ~90 KB in every zip), with zod's English messages so API errors
 * read exactly as before. Import it as a namespace, `import * as z from "../shared/schema"`, so the
 * bundler keeps only the functions a handler calls; never import "zod" in functions/.
 */
import { config } from "zod/mini";
import { en } from "zod/locales";

config(en());

export * from "zod/mini";

/** Validation issues as zod reports them (any schema's `safeParse(...).error`). */
export interface SchemaIssues {
  readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
}

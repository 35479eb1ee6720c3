/**
 * `npm run docs`: writes every generated docs page (docs/configuration.md, docs/cli.md) from the
 * config schemas and the CLI programs. Run it after changing either, and commit what it wrote.
 */
import { fileURLToPath } from "node:url";
import { packageRoot } from "../../common/cli/program.js";
import { writeFileAtomic } from "../../common/fs/atomic-write.js";
import { GENERATED_DOCS } from "./generated-docs.js";

const root = packageRoot();
for (const doc of GENERATED_DOCS) {
  const path = fileURLToPath(new URL(doc.path, root));
  await writeFileAtomic(path, doc.render(), { mode: 0o644, dirMode: 0o755 });
  console.log(`wrote ${doc.path}`);
}

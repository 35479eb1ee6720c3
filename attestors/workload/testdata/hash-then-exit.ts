/**
 * Hashes a file with a Sha256Thread and returns without closing it: the process must still exit by
 * itself (an idle hashing thread does not keep it alive). Prints the digest.
 */
import { openSync } from "node:fs";
import { Sha256Thread } from "../unix/sha256-thread.js";

const path = process.argv[2] ?? process.execPath;
const hex = await new Sha256Thread().sha256(openSync(path, "r"), 1 << 30);
process.stdout.write(`${hex}\n`);

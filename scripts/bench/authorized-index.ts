// The authorized-entries index at the scale: 100,000 entries, 1,000 agents.
// Prints build time, one incremental change, a lookup, and the heap it takes.
// Run: node --import tsx scripts/bench/authorized-index.ts [entries] [agents]
import { measureAuthorizedIndex } from "./authorized-index-measure.js";

for (const line of measureAuthorizedIndex(
  Number(process.argv[2] ?? 100_000),
  Number(process.argv[3] ?? 1_000),
))
  console.log(line);

// The hot spots of a V8 CPU profile (node --cpu-prof), as plain lines: the functions with the most
// self time, and self time per source file (node_modules packages folded into one line each).
// Run: node --import tsx scripts/bench/cpu-profile-summary.ts FILE.cpuprofile [top=25]
import { readFile } from "node:fs/promises";
import { fmt } from "./stats.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (file === undefined) throw new Error("usage: cpu-profile-summary.ts FILE.cpuprofile [top]");
const top = Number(topArg ?? 25);
const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

/** Where a frame's code lives: a package for node_modules, else the path under the repo. */
const place = (url: string): string => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return `node_modules/${pkg[1]}`;
  return url.replace(/^file:\/\/.*?\/dist\//, "dist/").replace(/^file:\/\//, "") || "(native/V8)";
};
const add = (m: Map<string, number>, key: string, us: number): void =>
  void m.set(key, (m.get(key) ?? 0) + us);
const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = (byId.get(id) as ProfileNode).callFrame;
  const where = place(frame.url);
  add(byFunction, `${frame.functionName || "(anonymous)"}  ${where}:${frame.lineNumber + 1}`, us);
  add(byPlace, where, us);
}
const print = (title: string, m: Map<string, number>): void => {
  console.log(title);
  for (const [key, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${fmt((100 * us) / totalUs).padStart(5)} %  ${fmt(us / 1000, 0).padStart(7)} ms  ${key}`);
};
console.log(`${file}: ${fmt(totalUs / 1e6, 2)} s sampled`);
print("\nself time by function:", byFunction);
print("\nself time by file or package:", byPlace);

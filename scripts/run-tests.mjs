// Runs every compiled *.test.js under dist/ with node's test runner, in a temp root of its own that
// is deleted afterwards, and ends with the plain line "N passed, N failed".
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "dist");
const filters = process.argv.slice(2);

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith(".test.js") ? [path] : [];
  });
}

const files = findTests(dist)
  .filter((f) => filters.length === 0 || filters.some((p) => relative(dist, f).includes(p)))
  .sort();
if (files.length === 0) {
  console.error("run-tests: no test files found under dist/ (did the build run?)");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const tempRoot = mkdtempSync(join(tmpdir(), "hallmark-test-run-"));
// Searchable by others, as /tmp is: tests whose processes run as other users (a workload reaching
// the agent socket) open up their own dirs inside it; every other dir in it stays mkdtemp's 0700.
chmodSync(tempRoot, 0o755);
const tapFile = join(tempRoot, "results.tap");
const args = [
  "--enable-source-maps",
  "--test",
  "--test-concurrency=2",
  "--test-timeout=180000",
  "--test-reporter=spec",
  "--test-reporter-destination=stdout",
  "--test-reporter=tap",
  `--test-reporter-destination=${tapFile}`,
  ...files,
];
const child = spawn(process.execPath, args, {
  stdio: "inherit",
  env: { ...process.env, HALLMARK_TEST_TMPDIR: tempRoot },
});
const code = await new Promise((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));

const tap = readFileSync(tapFile, "utf8");
// The TAP summary's "# pass N" lines count tests, not suites.
const count = (name) => Number(tap.match(new RegExp(`^# ${name} (\\d+)$`, "m"))?.[1] ?? 0);
const passed = count("pass");
const failed = count("fail") + count("cancelled");
const skipped = count("skipped") + count("todo");
rmSync(tempRoot, { recursive: true, force: true });

const failedTotal = failed === 0 && code !== 0 ? 1 : failed;
console.log(`${passed} passed, ${failedTotal} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code === 0 && failedTotal === 0 ? 0 : 1);

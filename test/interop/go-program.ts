/**
 * Builds the Go programs under test/interop/ (one Go module, go.mod + go.sum pinned), which check
 * hallmark's sockets with clients hallmark did not write (grpc-go's here; go-spiffe's next).
 *
 * Go keeps downloaded modules in its module cache and compiled packages in its build cache (both
 * under the user's home by default, so they outlive test runs and fresh clones): only the first
 * build on a machine fetches modules from the Go module proxy and compiles grpc-go (about 30 s on
 * this 2-core machine with Go's standard library already compiled, 65 s with nothing cached and
 * another test suite running); later builds take well under a second and need no network.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixtureTempRoot, run, trackTempDir } from "../fixtures/processes.js";

const root = fileURLToPath(
  new URL(import.meta.url.endsWith(".js") ? "../../../" : "../../", import.meta.url),
);
/** The Go module's directory in the source tree (the build output in dist/ holds no Go). */
export const INTEROP_MODULE_DIR = join(root, "test/interop");

/**
 * The first build on a machine downloads and compiles grpc-go (30-65 s measured here); this leaves
 * room for a slower machine within the test runner's 180 s per test.
 */
const BUILD_TIMEOUT_MS = 150_000;

/**
 * `go build` of `test/interop/<name>`; returns the executable's path (in a temp dir removed when the
 * test process exits). Throws, never skips, when Go or its modules cannot be had, saying what to do.
 */
export async function buildGoProgram(name: string): Promise<string> {
  const go = await findGo();
  const out = mkdtempSync(join(fixtureTempRoot(), `hallmark-go-${name}-`));
  trackTempDir(out);
  const binary = join(out, name);
  const build = await run(go, ["build", "-o", binary, `./${name}`], {
    cwd: INTEROP_MODULE_DIR,
    // readonly: go.mod and go.sum are what was reviewed; local: never fetch another toolchain.
    env: { ...process.env, GOFLAGS: "-mod=readonly", GOTOOLCHAIN: "local" },
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  if (build.code !== 0) {
    const how =
      build.code === null ? `did not finish within ${BUILD_TIMEOUT_MS / 1000} s` : `exited ${build.code}`;
    throw new Error(
      `go build ./${name} in ${INTEROP_MODULE_DIR} failed (${how}; the first build on a ` +
        `machine needs the Go module proxy, later ones use Go's module cache):\n${build.stderr.trim()}`,
    );
  }
  return binary;
}

/**
 * `go` from PATH, else where Go's own installer puts it: a non-login shell (CI's) may not have
 * /usr/local/go/bin on PATH, which only a login profile adds.
 */
async function findGo(): Promise<string> {
  const tried: string[] = [];
  for (const candidate of ["go", "/usr/local/go/bin/go"]) {
    const version = await run(candidate, ["version"]);
    if (version.code === 0) return candidate;
    tried.push(`${candidate}: ${version.stderr.trim() || `exit ${version.code}`}`);
  }
  throw new Error(
    "the Go toolchain is needed for this interop test and was not found " +
      `(${tried.join("; ")}): install Go >= 1.26 (the version in test/interop/go.mod)`,
  );
}

/**
 * The Python that runs test/interop/py-spiffe-client.py: a virtual environment holding exactly
 * test/interop/requirements.txt (py-spiffe and its dependencies, pinned, --require-hashes).
 *
 * Debian's own Python is "externally managed" (PEP 668: pip refuses to install into it), so the
 * packages go into a venv, made by `python3 -m venv` (Debian's python3-venv package, which
 * scripts/setup installs). It lives in the user's cache (`$XDG_CACHE_HOME/hallmark`, else
 * `~/.cache/hallmark`) under a name keyed by the requirements file and the interpreter, so it
 * outlives test runs and fresh clones, and a changed pin or Python gets a new one: only the first
 * use on a machine downloads from PyPI (about 10 s here); later ones take no time and no network.
 * It is built under a temporary name and renamed into place when complete, so a run that dies
 * half-way, or two test processes racing, never leave a broken one behind.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { rename } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { run } from "../fixtures/processes.js";
import { INTEROP_MODULE_DIR } from "./go-program.js";

export const REQUIREMENTS = join(INTEROP_MODULE_DIR, "requirements.txt");
export const PY_SPIFFE_CLIENT = join(INTEROP_MODULE_DIR, "py-spiffe-client.py");
/** An AI agent in Python acting for a user by token exchange (issue 17), on py-spiffe. */
export const PY_DELEGATING_AGENT = join(INTEROP_MODULE_DIR, "py-delegating-agent.py");

/** pip fetching and installing ~10 packages: 10 s measured here; room for a slow mirror. */
const INSTALL_TIMEOUT_MS = 150_000;

/** The venv's python, with py-spiffe installed: made on first use. Throws (never skips) saying what is missing. */
export async function pySpiffePython(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const base = await basePython();
  const key = createHash("sha256")
    .update(readFileSync(REQUIREMENTS))
    .update(`\0${base.executable}\0${base.version}`)
    .digest("hex")
    .slice(0, 16);
  const cache = join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "hallmark");
  const venv = join(cache, `py-spiffe-venv-${key}`);
  const python = join(venv, "bin", "python");
  if (existsSync(python)) return python;

  mkdirSync(cache, { recursive: true });
  const building = `${venv}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  try {
    await step(
      base.executable,
      ["-m", "venv", building],
      "python3 -m venv",
      "is python3-venv installed? scripts/setup installs it",
    );
    // --no-deps: the file pins every dependency itself, and pip then installs only what it lists.
    await step(
      join(building, "bin", "python"),
      [
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--require-hashes",
        "--no-deps",
        "-r",
        REQUIREMENTS,
      ],
      "pip install -r test/interop/requirements.txt",
      "the first use on a machine needs PyPI",
    );
    try {
      await rename(building, venv);
    } catch (err) {
      // Another test process finished first: its venv is as good as ours.
      if (!existsSync(python)) throw err;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return python;
}

async function step(command: string, args: string[], what: string, hint: string): Promise<void> {
  const result = await run(command, args, { timeoutMs: INSTALL_TIMEOUT_MS });
  if (result.code !== 0) {
    const how =
      result.code === null ? `did not finish within ${INSTALL_TIMEOUT_MS / 1000} s` : `exited ${result.code}`;
    throw new Error(`${what} ${how} (${hint}):\n${(result.stderr || result.stdout).trim()}`);
  }
}

/** python3 from PATH: its real executable (a venv is tied to it) and version. */
async function basePython(): Promise<{ executable: string; version: string }> {
  const probe = await run("python3", ["-c", "import sys; print(sys.executable); print(sys.version)"]);
  if (probe.code !== 0)
    throw new Error(
      `python3 is needed for the py-spiffe interop test and did not run (${probe.stderr.trim() || `exit ${probe.code}`}): ` +
        "install python3 and python3-venv (scripts/setup does)",
    );
  const [executable = "", version = ""] = probe.stdout.split("\n");
  return { executable, version };
}

/** Fixtures the workload attestor tests share: procfs trees, loggers, attestation options. */
import {
  closeSync,
  constants,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { createLogger, type Logger } from "../../../common/logging/logger.js";
import { repoRoot } from "../../../test/fixtures/hallmark-binaries.js";
import { fixtureTempRoot, runOk, trackTempDir } from "../../../test/fixtures/processes.js";
import { PeerProcess, type Peer } from "../../../native/peercred/index.js";
import type { AttestOptions } from "../workload-attestor.js";

/** The committed trees (see procfs/README.md), in the source tree also when the tests run compiled. */
export const PROCFS_FIXTURES = join(repoRoot, "attestors/workload/testdata/procfs");

export interface ProcFixture {
  readonly peer: Peer;
  /** The fake /proc/<pid>. */
  readonly procDir: string;
  close(): void;
}

export interface ProcFixtureOptions {
  /** A directory of PROCFS_FIXTURES whose files become /proc/<pid>. */
  scenario?: string;
  /** More files, by name. */
  files?: Record<string, string>;
  /** Where the fake `exe` link points. */
  exe?: string;
  uid?: number;
  gid?: number;
  groups?: readonly number[];
  /** A live process to pin (its pidfd is real); default this test process. */
  pid?: number;
}

/**
 * A caller whose /proc/<pid> is a fixture tree: the pidfd is the real one of a live process (this
 * test's own by default), so the attestors' liveness checks run for real, while what they read
 * comes from the fixture.
 */
export function procFixture(options: ProcFixtureOptions = {}): ProcFixture {
  const root = mkdtempSync(join(fixtureTempRoot(), "hallmark-procfs-"));
  const remove = trackTempDir(root);
  const pid = options.pid ?? process.pid;
  const procDir = join(root, String(pid));
  mkdirSync(procDir);
  if (options.scenario !== undefined)
    cpSync(join(PROCFS_FIXTURES, options.scenario), procDir, { recursive: true });
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(procDir, name), text);
  if (options.exe !== undefined) symlinkSync(options.exe, join(procDir, "exe"));
  const proc = PeerProcess.open(pid, { procRoot: root });
  return {
    peer: {
      credentials: { pid, uid: options.uid ?? 1000, gid: options.gid ?? 1000 },
      groups: options.groups,
      process: proc,
    },
    procDir,
    close: () => {
      proc.close();
      remove();
    },
  };
}

/** A debug logger whose lines the test reads. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const logger = createLogger({
    name: "attestor-test",
    level: "debug",
    destination: { write: (line: string) => void lines.push(line) },
  });
  return { logger, lines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** The `missing` field of each "no ... selector" debug line. */
export function missingKeys(lines: readonly Record<string, unknown>[]): unknown[] {
  return lines.filter((l) => "missing" in l).map((l) => l.missing);
}

export const silentLogger = createLogger({ name: "attestor-test", level: "silent" });

/**
 * Attestation options wanting every selector key except `unix:sha256` (the one that hashes a file),
 * plus the `type:key` pairs in `extra`, e.g. "unix:sha256".
 */
export function attestOptions(extra: readonly string[] = [], signal?: AbortSignal): AttestOptions {
  return {
    signal: signal ?? new AbortController().signal,
    wants: (type, key) => !(type === "unix" && key === "sha256") || extra.includes(`${type}:${key}`),
  };
}

/** Attestation options wanting exactly the `type:key` pairs listed: what an agent with those entries asks for. */
export function attestOptionsWanting(wants: readonly string[], signal?: AbortSignal): AttestOptions {
  return {
    signal: signal ?? new AbortController().signal,
    wants: (type, key) => wants.includes(`${type}:${key}`),
  };
}

/** Selectors as `type:value` strings, sorted, for comparing with a list written in a test. */
export function texts(selectors: readonly { type: string; value: string }[]): string[] {
  return selectors.map((s) => `${s.type}:${s.value}`).sort();
}

/**
 * A FIFO stands in for a /proc file so a test can hold an attestor inside its read: `readerWaiting`
 * resolves once the attestor has the FIFO open (a non-blocking open for writing succeeds only when
 * a reader is there), `release` then hands it `text` and lets the read finish.
 */
export async function heldProcFile(
  path: string,
): Promise<{ readerWaiting: () => Promise<void>; release: (text: string) => void }> {
  await runOk("mkfifo", [path]);
  let fd: number | undefined;
  return {
    readerWaiting: async () => {
      for (;;) {
        try {
          fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENXIO") throw err;
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }
    },
    release: (text) => {
      if (fd === undefined) return;
      writeSync(fd, text);
      closeSync(fd);
      fd = undefined;
    },
  };
}

/** Small workload attestors for this folder's tests; the real ones live in attestors/workload/. */
import { readFile } from "node:fs/promises";
import type { Selector } from "../../../common/selector.js";
import type { Peer } from "../../../native/peercred/index.js";
import type { AttestOptions, WorkloadAttestor } from "../../../attestors/workload/workload-attestor.js";

export type Answer = (caller: Peer, options: AttestOptions) => Promise<readonly Selector[]>;

/** An attestor answering with `answer`, counting its calls and how many ran at once. */
export class RecordingAttestor implements WorkloadAttestor {
  readonly name: string;
  /** Run whenever any key of its type is wanted (the tests' `wants` says yes to everything). */
  readonly keys = ["uid", "gid", "name", "arg"] as const;
  readonly #answer: Answer;
  calls = 0;
  running = 0;
  maxRunning = 0;
  readonly seen: { caller: Peer; options: AttestOptions }[] = [];
  /** What each call answered, at the index of its `seen`. */
  readonly answered: (readonly Selector[])[] = [];

  constructor(name: string, answer: Answer) {
    this.name = name;
    this.#answer = answer;
  }

  async attest(caller: Peer, options: AttestOptions): Promise<readonly Selector[]> {
    this.calls++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const at = this.seen.push({ caller, options }) - 1;
    try {
      const answer = await this.#answer(caller, options);
      this.answered[at] = answer;
      return answer;
    } finally {
      this.running--;
    }
  }
}

/** `<type>:uid:<uid>` and `<type>:gid:<gid>` from the connection's credentials. */
export function credentialSelectors(type: string): Answer {
  return (caller) => {
    const { uid, gid } = caller.credentials;
    return Promise.resolve([
      { type, value: `uid:${uid}` },
      { type, value: `gid:${gid}` },
    ]);
  };
}

/** `<type>:name:<Name>` from /proc/<pid>/status, read through the pinned process (real I/O). */
export function processName(type: string): Answer {
  return async (caller) => {
    const status = await caller.process.readProcText("status");
    return [{ type, value: `name:${/^Name:\s*(.*)$/m.exec(status)?.[1] ?? "?"}` }];
  };
}

/**
 * `<type>:arg:<last argument>` from /proc/<pid>/cmdline read by PID, NOT through the pinned
 * process: a careless attestor, which reads whatever process holds the PID by then.
 */
export function lastArgumentByPid(type: string): Answer {
  return async (caller) => {
    const args = (await readFile(`/proc/${caller.credentials.pid}/cmdline`, "utf8"))
      .split("\0")
      .filter(Boolean);
    return [{ type, value: `arg:${args.at(-1) ?? "?"}` }];
  };
}

/** Never answers and ignores its signal: the worst an attestor can do. */
export function neverAnswers(): Answer {
  return () => new Promise<never>(() => undefined);
}

/** Answers `selectors` as given, unchecked. */
export function answers(selectors: readonly Selector[]): Answer {
  return () => Promise.resolve(selectors);
}

/**
 * Holds every call at the gate while it is shut (a call whose signal fires meanwhile rejects with
 * the signal's reason), then answers with `then`.
 */
export class Gate {
  #open = true;
  #release: (() => void)[] = [];
  /** Calls waiting at the gate now. */
  waiting = 0;

  shut(): void {
    this.#open = false;
  }

  open(): void {
    this.#open = true;
    for (const release of this.#release.splice(0)) release();
  }

  answer(then: Answer): Answer {
    return async (caller, options) => {
      if (!this.#open) {
        this.waiting++;
        try {
          await new Promise<void>((resolve, reject) => {
            this.#release.push(resolve);
            options.signal.addEventListener("abort", () => reject(options.signal.reason as Error), {
              once: true,
            });
          });
        } finally {
          this.waiting--;
        }
      }
      return then(caller, options);
    };
  }
}

/** `<type>:pid:<pid>`, from the pinned process. */
export function processId(type: string): Answer {
  return (caller) => Promise.resolve([{ type, value: `pid:${caller.process.pid}` }]);
}

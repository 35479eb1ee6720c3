import { abortable } from "../../common/deadline.js";
import type { Selector } from "../../common/selector.js";
import type { Peer } from "../../native/peercred/index.js";

export interface Attested {
  readonly selectors: readonly Selector[];
  /** When its attestors started reading. */
  readonly attestedAtMs: number;
  /** The wants generation its attestors ran under. */
  readonly wantsGeneration: number;
}

/**
 * One attestation of one caller process, which every concurrent call from that process waits on.
 * Each waiter waits under its own signal and leaves at once when it fires; when the last waiter
 * has left, nobody wants the answer any more, so the attestation is called off (it leaves the queue,
 * or its attestors are told to stop) and `onAbandoned` lets the owner forget it.
 */
export class SharedAttestation {
  /** The caller, pinned by a pidfd of the attestation's own. */
  readonly caller: Peer;
  /** The wants generation its attestors run under (see lookup-plan.ts). */
  readonly wantsGeneration: number;
  /** Settles once, with the selectors or the refusal; the owner stores or discards it. */
  readonly result: Promise<Attested>;
  readonly #controller = new AbortController();
  readonly #onAbandoned: () => void;
  #waiters = 0;
  #settled = false;

  constructor(
    caller: Peer,
    wantsGeneration: number,
    run: (signal: AbortSignal) => Promise<Attested>,
    onAbandoned: () => void,
  ) {
    this.caller = caller;
    this.wantsGeneration = wantsGeneration;
    this.#onAbandoned = onAbandoned;
    this.result = run(this.#controller.signal).finally(() => {
      this.#settled = true;
    });
    // Its waiters and owner handle the outcome; one called off with nobody waiting is no error.
    this.result.catch(() => undefined);
  }

  /** The result, or a DEADLINE_EXCEEDED/CANCELLED as soon as `signal` fires. */
  async wait(signal: AbortSignal | undefined, doing: string): Promise<Attested> {
    this.#waiters++;
    try {
      return await abortable(this.result, signal, doing);
    } finally {
      this.#waiters--;
      if (this.#waiters === 0 && !this.#settled) {
        this.cancel(new Error("every caller waiting for this attestation has gone"));
        this.#onAbandoned();
      }
    }
  }

  /** Calls the attestation off; its waiters get `reason` (a HallmarkError reaches them as it is). */
  cancel(reason: unknown): void {
    this.#controller.abort(reason);
  }
}

import type { Clock, TimerHandle } from "../../common/clock.js";

/**
 * The cache's one clock timer, armed for the earliest moment anything is due. Asking for a later
 * moment than the one armed keeps the armed one (it re-arms when it fires); an earlier one replaces
 * it. A far moment is reached in steps of at most `maxDelayMs`: setTimeout cannot wait past 2^31 ms,
 * and a look every hour also catches a clock that jumped.
 */
export class WakeUp {
  #timer: TimerHandle | undefined;
  #atMs = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly maxDelayMs: number,
    private readonly onWake: () => void,
  ) {}

  /** Wake at `targetMs` (Infinity: nothing is due, no timer). */
  at(targetMs: number): void {
    if (targetMs === Infinity) {
      this.cancel();
      return;
    }
    if (this.#timer !== undefined && this.#atMs <= targetMs) return;
    this.#timer?.cancel();
    const now = this.clock.nowMs();
    const delayMs = Math.min(Math.max(0, targetMs - now), this.maxDelayMs);
    this.#atMs = now + delayMs;
    this.#timer = this.clock.setTimer(() => {
      this.#timer = undefined;
      this.#atMs = Infinity;
      this.onWake();
    }, delayMs);
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#atMs = Infinity;
  }
}

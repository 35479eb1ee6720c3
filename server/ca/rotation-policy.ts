/**
 * When each key moves along its life: a pure function of times, so that the rules can be tested without a
 * token. CaManager carries out what it returns.
 */
import type { JournalKey, KeyKind } from "./key-journal.js";
import { BACKDATE_MS } from "./x509-ca.js";

/**
 * A retired key stays in the bundle this long after its last SVID expires: a relying party whose clock is
 * behind by up to the SVIDs' backdate still finds it.
 */
export const RETIRE_GRACE_MS = BACKDATE_MS;

/** Prepare the next key when this fraction of the active key's lifetime has passed... */
export const PREPARE_AT = 1 / 2;
/** ...and switch to it when this fraction remains (and it has been published long enough). */
export const ACTIVATE_REMAINING = 1 / 6;

export interface PolicyKey {
  notBeforeMs: number;
  notAfterMs: number;
}

export interface PreparedKey extends PolicyKey {
  /** When the key entered the published bundle. */
  publishedAtMs: number;
}

export interface RetiredKey {
  keyId: string;
  /** The key leaves the bundle (and the token) at this instant. */
  keepUntilMs: number;
}

/** One kind of key (the X.509 CA or the JWT key) at one instant. */
export interface RotationInput {
  nowMs: number;
  active?: PolicyKey;
  prepared?: PreparedKey;
  retired: RetiredKey[];
  /**
   * How long relying parties may take to fetch a new bundle (the refresh hint): a prepared key must have
   * been published this long before anything is signed with it.
   */
  propagationMs: number;
}

/**
 * The step for one kind, at most one key change:
 * - `discard-prepared`: the prepared key expired unused.
 * - `activate-now`: there is no valid active key (first start, or down past its end). The prepared key, or a
 *   new one, becomes active at once: availability beats waiting, `unannounced` says relying parties may not
 *   have it yet.
 * - `prepare`: half the active key's life has passed: make and publish the next key.
 * - `activate`: a sixth of the active key's life remains and the prepared key has been published for the
 *   propagation window.
 * Plus `remove`: retired keys whose keep-until has passed.
 */
export type RotationAction =
  | { kind: "none" }
  | { kind: "discard-prepared" }
  | { kind: "activate-now"; usePrepared: boolean; unannounced: boolean }
  | { kind: "prepare" }
  | { kind: "activate" };

export interface RotationPlan {
  action: RotationAction;
  remove: string[];
}

export function planRotation(input: RotationInput): RotationPlan {
  const { nowMs: now, active, prepared } = input;
  const remove = input.retired.filter((r) => now >= r.keepUntilMs).map((r) => r.keyId);
  if (prepared !== undefined && now >= prepared.notAfterMs)
    return { action: { kind: "discard-prepared" }, remove };
  if (active === undefined || now >= active.notAfterMs) {
    const usePrepared = prepared !== undefined;
    const unannounced =
      active !== undefined && (prepared === undefined || now < prepared.publishedAtMs + input.propagationMs);
    return { action: { kind: "activate-now", usePrepared, unannounced }, remove };
  }
  if (prepared === undefined) {
    return { action: now >= prepareAtMs(active) ? { kind: "prepare" } : { kind: "none" }, remove };
  }
  return {
    action:
      now >= activateAtMs(active, prepared, input.propagationMs) ? { kind: "activate" } : { kind: "none" },
    remove,
  };
}

/** The next instant anything is due for this kind, or Infinity. */
export function nextDueMs(input: Omit<RotationInput, "nowMs">): number {
  let next = Infinity;
  const { active, prepared } = input;
  if (active !== undefined) {
    next = Math.min(
      active.notAfterMs,
      prepared === undefined ? prepareAtMs(active) : activateAtMs(active, prepared, input.propagationMs),
    );
  }
  if (prepared !== undefined) next = Math.min(next, prepared.notAfterMs);
  for (const r of input.retired) next = Math.min(next, r.keepUntilMs);
  return next;
}

/**
 * When a key retired at `nowMs` leaves the bundle: once the last SVID it signed has expired (which never
 * outlives the key), plus the grace.
 */
export function keepUntilMs(lastExpiryMs: number, nowMs: number, notAfterMs: number): number {
  return Math.min(Math.max(lastExpiryMs, nowMs), notAfterMs) + RETIRE_GRACE_MS;
}

/** The policy's view of one kind's journal entries. */
export function rotationInputOf(
  records: readonly JournalKey[],
  kind: KeyKind,
  propagationMs: number,
): Omit<RotationInput, "nowMs"> {
  const active = records.find((r) => r.kind === kind && r.status === "active");
  const prepared = records.find((r) => r.kind === kind && r.status === "prepared");
  return {
    active,
    prepared:
      prepared === undefined
        ? undefined
        : { ...prepared, publishedAtMs: prepared.publishedAtMs ?? prepared.notBeforeMs },
    retired: records
      .filter((r) => r.kind === kind && r.status === "retired")
      .map((r) => ({ keyId: r.keyId, keepUntilMs: r.keepUntilMs ?? r.notAfterMs })),
    propagationMs,
  };
}

/** The next instant anything is due for any of `kinds` (the kinds being rotated), or Infinity. */
export function nextStepDueMs(
  records: readonly JournalKey[],
  propagationMs: number,
  kinds: readonly KeyKind[] = ["x509", "jwt"],
): number {
  return Math.min(...kinds.map((kind) => nextDueMs(rotationInputOf(records, kind, propagationMs))));
}

function prepareAtMs(active: PolicyKey): number {
  return active.notBeforeMs + (active.notAfterMs - active.notBeforeMs) * PREPARE_AT;
}

function activateAtMs(active: PolicyKey, prepared: PreparedKey, propagationMs: number): number {
  const life = active.notAfterMs - active.notBeforeMs;
  return Math.max(active.notAfterMs - life * ACTIVATE_REMAINING, prepared.publishedAtMs + propagationMs);
}

import type { Logger } from "../../common/logging/logger.js";
import { errorMessage } from "../../common/errors.js";
import type { BundlePublisher } from "./bundle-publisher.js";
import { isOwnKeyId, makeSlotKey, newKeyId, type Slot, type SlotContext } from "./ca-slot.js";
import type { JournalKey, KeyJournal, KeyJournalState, KeyKind } from "./key-journal.js";
import type { KeyType } from "../../native/pkcs11/index.js";
import type { KeyOperationOptions } from "./key-manager.js";
import { keepUntilMs, planRotation, rotationInputOf } from "./rotation-policy.js";

/** What changing the keys needs beyond making a slot's key. */
export interface CaKeysContext extends SlotContext {
  journal: KeyJournal;
  logger: Logger;
  caKeyType: KeyType | undefined;
  jwtKeyType: KeyType | undefined;
  delegationKeyType: KeyType | undefined;
  /** spiffe_refresh_hint: how long relying parties may take to fetch a new bundle. */
  refreshHintSeconds: number;
}

/**
 * The CA's keys as the journal records them, and every change to them, as the rotation policy says. Each
 * change is journaled before the key store is touched, so that no key is ever on the token that the journal
 * does not name; the bundle's sequence goes up (BundlePublisher.changing) before the write that records a
 * change of its contents.
 */
export class CaKeys {
  readonly #context: CaKeysContext;
  readonly #bundles: BundlePublisher;
  #slots: Slot[];
  #unsaved = false;
  /** The running step's failed token deletions: reported, but they do not hold up the rotation. */
  #deletionErrors: unknown[] = [];

  constructor(context: CaKeysContext, bundles: BundlePublisher, slots: Slot[]) {
    this.#context = context;
    this.#bundles = bundles;
    this.#slots = slots;
  }

  get slots(): readonly Slot[] {
    return this.#slots;
  }

  /** The slots have changed since the last successful journal write. */
  get unsaved(): boolean {
    return this.#unsaved;
  }

  /** Collects the failed token deletions of a rotation step into `errors` (they do not stop the step). */
  collectDeletionErrors(errors: unknown[]): void {
    this.#deletionErrors = errors;
  }

  records(): JournalKey[] {
    return this.#slots.map((s) => s.record);
  }

  /** How long relying parties may take to fetch a new bundle: the refresh hint. */
  get propagationMs(): number {
    return this.#context.refreshHintSeconds * 1000;
  }

  /** Moves one kind of key along its life, as the rotation policy says. */
  async rotate(kind: KeyKind, options: KeyOperationOptions): Promise<void> {
    // A step makes at most a few changes (discard an expired prepared key, then prepare a new one).
    for (let round = 0; round < 3; round++) {
      const now = this.#context.clock.nowMs();
      const active = this.find(kind, "active");
      const prepared = this.find(kind, "prepared");
      const plan = planRotation({
        nowMs: now,
        ...rotationInputOf(this.records(), kind, this.propagationMs),
      });
      for (const keyId of plan.remove) {
        const slot = this.#slots.find((s) => s.record.keyId === keyId);
        if (slot !== undefined) await this.#remove(slot, options);
      }
      const action = plan.action;
      switch (action.kind) {
        case "none":
          return;
        case "discard-prepared":
          await this.#remove(prepared!, options);
          break;
        case "prepare":
          await this.#create(kind, now, active, options);
          break;
        case "activate":
          this.#retire(active!, now);
          this.#activate(prepared!, now, false);
          await this.save();
          break;
        case "activate-now": {
          const next = action.usePrepared ? prepared! : await this.#create(kind, now, undefined, options);
          if (active !== undefined) this.#retire(active, now);
          this.#activate(next, now, action.unannounced);
          await this.save();
          if (action.unannounced)
            this.#context.logger.warn(
              { kind, keyId: next.record.keyId },
              "the active key had expired: its successor signs at once, before relying parties may have fetched it",
            );
          break;
        }
      }
    }
  }

  find(kind: KeyKind, status: JournalKey["status"]): Slot | undefined {
    return this.#slots.find((s) => s.record.kind === kind && s.record.status === status);
  }

  #activate(slot: Slot, now: number, unannounced: boolean): void {
    slot.record.status = "active";
    slot.record.activatedAtMs = now;
    if (unannounced) slot.record.activatedUnannounced = true;
  }

  #retire(slot: Slot, now: number): void {
    slot.record.status = "retired";
    slot.record.keepUntilMs = keepUntilMs(slot.lastExpiryMs, now, slot.record.notAfterMs);
  }

  /**
   * Takes a key out of the bundle, then off the token. It stays in the journal as "deleting" until the token
   * has confirmed, so a crash or an absent token cannot leave an unnamed key behind.
   */
  async #remove(slot: Slot, options: KeyOperationOptions): Promise<void> {
    slot.record.status = "deleting";
    this.#bundles.changing();
    await this.save();
    await this.#tryDeleteFromToken(slot, options);
  }

  async #tryDeleteFromToken(slot: Slot, options: KeyOperationOptions): Promise<void> {
    try {
      await this.#deleteFromToken(slot, options);
    } catch (err) {
      this.#context.logger.warn(
        { keyId: slot.record.keyId, err: errorMessage(err) },
        "cannot delete a key from the token yet; retrying",
      );
      this.#deletionErrors.push(err);
    }
  }

  async #deleteFromToken(slot: Slot, options: KeyOperationOptions): Promise<void> {
    await this.#context.keyManager.deleteKey(slot.record.keyId, options);
    this.#slots = this.#slots.filter((s) => s !== slot);
    await this.save();
  }

  /**
   * Deletions left over from an earlier step (token away) or from a crash (a "pending" key whose creation
   * never finished). Failures are collected, not thrown: the rotation itself must still go ahead.
   */
  async finishDeletions(options: KeyOperationOptions): Promise<void> {
    const pending = this.#slots.filter((s) => s.record.status === "pending");
    if (pending.length > 0) {
      for (const slot of pending) slot.record.status = "deleting";
      await this.save();
    }
    for (const slot of this.#slots.filter((s) => s.record.status === "deleting"))
      await this.#tryDeleteFromToken(slot, options);
  }

  /** Keys with our id pattern that the journal does not name: left by a crash between generation and journal. */
  async deleteOrphans(options: KeyOperationOptions): Promise<void> {
    const { keyManager, logger } = this.#context;
    const known = new Set(this.#slots.map((s) => s.record.keyId));
    for (const key of await keyManager.listKeys(options)) {
      if (!isOwnKeyId(key.id) || known.has(key.id)) continue;
      logger.info({ keyId: key.id }, "deleting a CA/JWT key that no key journal entry names");
      await keyManager.deleteKey(key.id, options);
    }
  }

  /**
   * Makes the next key: the upstream is checked first, the intent is journaled before the token makes the
   * key, and a key whose CA certificate cannot be made is deleted again (or left "deleting" for a later step).
   */
  async #create(
    kind: KeyKind,
    now: number,
    current: Slot | undefined,
    options: KeyOperationOptions,
  ): Promise<Slot> {
    const { random, caTtlMs, upstream } = this.#context;
    if (kind === "x509") upstream?.checkCanSignCa(now, caTtlMs, current?.record.notAfterMs);
    const record: JournalKey = {
      keyId: newKeyId(kind, random),
      kind,
      status: "pending",
      notBeforeMs: now,
      notAfterMs: now,
    };
    const slot: Slot = { record, lastExpiryMs: 0 };
    this.#slots.push(slot);
    await this.save();
    try {
      await makeSlotKey(
        slot,
        {
          x509: this.#context.caKeyType,
          jwt: this.#context.jwtKeyType,
          delegation: this.#context.delegationKeyType,
        }[kind],
        this.#context,
        options,
      );
    } catch (err) {
      record.status = "deleting";
      if (options.signal?.aborted === true) {
        // The caller stopped waiting, but the token may still be making the key: it stays journaled as
        // "deleting" for the next step (a minute later at the earliest) to delete; one that appears later
        // still has our id pattern, and the next start deletes it as an orphan.
        await this.save().catch(() => undefined);
      } else {
        // Without the caller's signal: a clean-up is not the caller's work to cut short.
        await this.#deleteFromToken(slot, {}).catch(() => undefined);
      }
      throw err;
    }
    record.status = "prepared";
    record.publishedAtMs = now;
    this.#bundles.changing();
    await this.save();
    return slot;
  }

  async save(): Promise<void> {
    this.#unsaved = true;
    const state: KeyJournalState = { version: 1, sequence: this.#bundles.sequence, keys: this.records() };
    await this.#context.journal.save(state);
    this.#unsaved = false;
  }
}

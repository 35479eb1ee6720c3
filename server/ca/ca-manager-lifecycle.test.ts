import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ManualClock } from "../../common/clock.js";
import { serializeBundle } from "../../common/spiffe/bundle.js";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import type { Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import { openSoftHsmKeyManager, type SoftHsmKeyManager } from "../../test/fixtures/softhsm-key-manager.js";
import { testCaOptions } from "./testdata/ca-options.js";
import { CaManager, type CaManagerOptions } from "./ca-manager.js";
import { captureLogger } from "./testdata/capture-logger.js";
import { MemoryKeyJournal, type KeyJournalState } from "./key-journal.js";

const workload = SpiffeId.parse("spiffe://example.org/ns/prod/sa/web");
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1);

/** A journal in memory whose writes can be made to fail or to wait. */
class ControlledJournal extends MemoryKeyJournal {
  failWhen: ((state: KeyJournalState) => boolean) | undefined;
  hold: Promise<void> | undefined;
  saved = 0;

  override async save(state: KeyJournalState): Promise<void> {
    if (this.hold !== undefined) {
      const hold = this.hold;
      this.hold = undefined;
      await hold;
    }
    if (this.failWhen?.(state) === true) throw new Error("disk full");
    await super.save(state);
    this.saved++;
  }

  async state(): Promise<KeyJournalState> {
    return (await this.load())!;
  }
}

const hallmarkIds = async (km: Pkcs11KeyManager): Promise<string[]> =>
  (await km.listKeys())
    .map((k) => k.id)
    .filter((id) => id.startsWith("hallmark-"))
    .sort();

describe("CaManager: start, stop, activation timing and keys left on the token", () => {
  let hsm: SoftHsmKeyManager;
  let km: Pkcs11KeyManager;

  before(async () => {
    hsm = await openSoftHsmKeyManager("hallmark-lifecycle");
    km = hsm.keyManager;
  });
  after(() => hsm.close());

  const options = (clock: ManualClock, journal: CaManagerOptions["journal"]): CaManagerOptions =>
    testCaOptions({ keyManager: km, clock, journal });

  it("a start whose first step fails leaves no manager retrying in the background", async () => {
    const clock = new ManualClock(T0);
    const journal = new ControlledJournal();
    journal.failWhen = () => true;
    await assert.rejects(CaManager.start(options(clock, journal)), /disk full/);
    journal.failWhen = undefined;
    clock.advance(10 * 60_000);
    await sleep(300);
    assert.equal(journal.saved, 0, "nothing ran after the failed start");
    assert.deepEqual(await hallmarkIds(km), []);
  });

  it("stop() waits for the running step", async () => {
    const clock = new ManualClock(T0);
    const journal = new ControlledJournal();
    const ca = await CaManager.start(options(clock, journal));
    let release!: () => void;
    journal.hold = new Promise((resolve) => (release = resolve));
    clock.advance(12 * HOUR); // half-life: the timer starts a step that prepares the next keys
    await sleep(20); // the step is now waiting for the journal
    let stopped = false;
    const stopping = ca.stop().then(() => (stopped = true));
    await sleep(50);
    assert.equal(stopped, false, "stop() is still waiting for the step");
    release();
    await stopping;
    const keys = (await journal.state()).keys;
    assert.ok(
      keys.some((k) => k.status === "prepared"),
      "the step finished before stop() resolved",
    );
    assert.ok(keys.every((k) => k.status !== "pending"));
  });

  it("a restart at 5.5/6 of the CA's life publishes the next key, and activates it only after the propagation window", async () => {
    const clock = new ManualClock(T0);
    const journal = new ControlledJournal();
    const first = await CaManager.start(options(clock, journal));
    await first.stop();
    const oldCa = first.keys().find((k) => k.kind === "x509" && k.status === "active")!.keyId;
    clock.set(T0 + (DAY * 5.5) / 6);
    const ca = await CaManager.start(options(clock, journal));
    const status = () => Object.fromEntries(ca.keys().map((k) => [k.keyId, `${k.kind} ${k.status}`]));
    const prepared = ca.keys().find((k) => k.kind === "x509" && k.status === "prepared");
    assert.ok(prepared !== undefined, "the next CA key is prepared");
    assert.equal(status()[oldCa], "x509 active", "the old CA still signs");
    assert.ok(ca.keys().some((k) => k.kind === "jwt" && k.status === "prepared"));
    assert.equal(ca.bundle.x509Authorities.length, 2, "both CAs are published");
    const workloadKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const early = await ca.issueX509Svid({ spiffeId: workload, publicKey: workloadKey });
    assert.ok(early.caCertificate.equals(ca.bundle.x509Authorities[0]!));

    clock.advance(299_000);
    await ca.tick();
    assert.equal(status()[prepared.keyId], "x509 prepared", "not yet: relying parties may not have it");
    clock.advance(1_000); // the refresh hint (300 s) has passed: the timer activates it
    await ca.tick();
    assert.equal(status()[prepared.keyId], "x509 active");
    assert.equal(status()[oldCa], "x509 retired");
    assert.equal(ca.keys().filter((k) => k.kind === "jwt" && k.status === "active").length, 1);
    const record = (await journal.state()).keys.find((k) => k.keyId === prepared.keyId)!;
    assert.equal(record.publishedAtMs, T0 + (DAY * 5.5) / 6);
    assert.equal(record.activatedUnannounced, undefined);
    await ca.stop();
  });

  it("a restart after the active key expired activates a new key at once and journals that it was unannounced", async () => {
    const clock = new ManualClock(T0);
    const journal = new ControlledJournal();
    await (await CaManager.start(options(clock, journal))).stop();
    clock.set(T0 + DAY + HOUR);
    const ca = await CaManager.start(options(clock, journal));
    await ca.stop();
    const active = (await journal.state()).keys.filter((k) => k.status === "active");
    assert.equal(active.length, 2);
    for (const key of active) {
      assert.equal(key.activatedUnannounced, true);
      assert.equal(key.activatedAtMs, clock.nowMs());
    }
  });

  it("a retired key stays in the bundle for a grace period after its last SVID", async () => {
    const clock = new ManualClock(T0);
    const ca = await CaManager.start(options(clock, new ControlledJournal()));
    clock.set(T0 + 12 * HOUR);
    await ca.tick();
    clock.set(T0 + 20 * HOUR);
    await ca.tick();
    assert.equal(ca.bundle.x509Authorities.length, 2, "old and new CA after the switch");
    clock.set(T0 + 20 * HOUR + 5_000);
    await ca.tick();
    assert.equal(ca.bundle.x509Authorities.length, 2, "still there 5 s later");
    clock.set(T0 + 20 * HOUR + 10_000);
    await ca.tick();
    assert.equal(ca.bundle.x509Authorities.length, 1, "gone after the 10 s grace");
    await ca.stop();
  });

  it("a key that cannot be deleted (token away) stays journaled as deleting and is deleted by a later step", async () => {
    let tokenAway = false;
    const flaky = new Proxy(km, {
      get(target, prop) {
        if (prop === "deleteKey" && tokenAway) return () => Promise.reject(new Error("CKR_DEVICE_REMOVED"));
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const clock = new ManualClock(T0);
    const journal = new ControlledJournal();
    const ca = await CaManager.start({ ...options(clock, journal), keyManager: flaky });
    const firstCa = ca.keys().find((k) => k.kind === "x509")!.keyId;
    for (const at of [12 * HOUR, 20 * HOUR]) {
      clock.set(T0 + at);
      await ca.tick();
    }
    tokenAway = true;
    clock.set(T0 + 21 * HOUR);
    await assert.rejects(ca.tick(), /CKR_DEVICE_REMOVED/);
    assert.equal(ca.keys().find((k) => k.keyId === firstCa)?.status, "deleting");
    assert.ok((await journal.state()).keys.some((k) => k.keyId === firstCa && k.status === "deleting"));
    assert.equal(ca.bundle.x509Authorities.length, 1, "out of the bundle already");
    assert.ok((await hallmarkIds(km)).includes(firstCa), "still on the token");
    tokenAway = false;
    clock.advance(60_000); // the retry timer
    await ca.tick();
    assert.equal(
      ca.keys().some((k) => k.keyId === firstCa),
      false,
    );
    assert.equal((await hallmarkIds(km)).includes(firstCa), false, "deleted from the token");
    await ca.stop();
  });

  it("a key whose creation was interrupted before it was journaled is deleted at the next start, and so are orphans", async () => {
    const clock = new ManualClock(T0);
    const journal = new ControlledJournal();
    // The write that would record the new CA key as prepared fails: a crash at that point.
    journal.failWhen = (state) => state.keys.some((k) => k.status === "prepared");
    await assert.rejects(CaManager.start(options(clock, journal)), /disk full/);
    const afterCrash = await hallmarkIds(km);
    assert.ok((await journal.state()).keys.every((k) => k.status === "pending" || k.status === "deleting"));
    const orphan = await km.generateKey({ id: "hallmark-jwt-0123456789abcdef" });
    const foreign = await km.generateKey({ id: "someone-else" });
    journal.failWhen = undefined;
    const ca = await CaManager.start(options(clock, journal));
    await ca.stop();
    const now = await hallmarkIds(km);
    for (const id of afterCrash) assert.equal(now.includes(id), false, `${id} is gone`);
    assert.equal(now.includes(orphan.id), false, "the orphan is gone");
    assert.deepEqual(
      now,
      ca
        .keys()
        .map((k) => k.keyId)
        .sort(),
      "the token holds exactly the journal's keys",
    );
    assert.ok((await km.findKey(foreign.id)) !== undefined, "keys of other ids are left alone");
    await km.deleteKey(foreign.id);
  });

  it("a subscriber that throws stops neither rotation nor any other subscriber: 30 h driven by the timer alone", async () => {
    const clock = new ManualClock(T0);
    const captured = captureLogger();
    const ca = await CaManager.start({ ...options(clock, new ControlledJournal()), logger: captured.logger });
    const firstKeys = ca.keys().map((k) => k.keyId);
    const before: number[] = [];
    const after: number[] = [];
    const stuck: number[] = [];
    ca.subscribeToBundle((b) => void before.push(b.sequence));
    const failing = ca.subscribeToBundle(() => {
      throw new Error("a subscriber's own bug");
    });
    ca.subscribeToBundle(() => Promise.reject(new Error("an async subscriber's own bug")));
    // Never done with its first bundle: it must hold up nobody.
    ca.subscribeToBundle((b) => {
      stuck.push(b.sequence);
      return new Promise<void>(() => undefined);
    });
    ca.subscribeToBundle((b) => void after.push(b.sequence));
    // No tick() here: only the rotation timer moves the keys along, as in a running server.
    for (let t = 0; t < 30 * HOUR; t += 5 * 60_000) {
      clock.advance(5 * 60_000);
      await ca.settled();
    }
    const now = clock.nowMs();
    for (const kind of ["x509", "jwt"] as const) {
      const active = ca.keys().filter((k) => k.kind === kind && k.status === "active");
      assert.equal(active.length, 1, `one active ${kind} key`);
      assert.ok(!firstKeys.includes(active[0]!.keyId), `the ${kind} key was rotated`);
      assert.ok(active[0]!.notAfter.getTime() > now, `the active ${kind} key is valid 30 h later`);
    }
    assert.ok(
      ca.keys().every((k) => !firstKeys.includes(k.keyId)),
      "the first keys were retired and removed",
    );
    assert.ok(ca.bundle.sequence >= 3, "a key prepared, then a key removed: at least two new bundles");
    const every = Array.from({ length: ca.bundle.sequence }, (_, i) => i + 1);
    assert.deepEqual(before, every, "a subscriber before the failing ones got every bundle");
    assert.deepEqual(after, every, "a subscriber after the failing ones got every bundle");
    assert.deepEqual(stuck, [1], "the stuck subscriber is still on its first bundle");
    const warnings = captured
      .records()
      .filter((r) => r.msg === "a trust bundle subscriber failed; it is skipped");
    assert.equal(warnings.length, 2 * every.length, "each failure of each failing subscriber is logged");
    assert.equal(ca.health().healthy, true);
    failing.close();
    await ca.stop();
  });

  it("never publishes a spiffe_sequence that a restart could publish again with other contents", async () => {
    const clock = new ManualClock(T0);
    const journal = new ControlledJournal();
    const seen = new Map<number, string>();
    const record = (ca: CaManager): void => {
      const check = (): void => {
        const json = serializeBundle(ca.bundle);
        const earlier = seen.get(ca.bundle.sequence);
        assert.ok(earlier === undefined || earlier === json, `sequence ${ca.bundle.sequence} reused`);
        seen.set(ca.bundle.sequence, json);
      };
      ca.subscribeToBundle(check);
    };
    const first = await CaManager.start(options(clock, journal));
    record(first);
    // At half-life the prepared key is made, but the journal write that records it fails; then a crash.
    journal.failWhen = (state) => state.keys.some((k) => k.status === "prepared" && k.notBeforeMs > T0);
    clock.set(T0 + 12 * HOUR);
    await assert.rejects(first.tick(), /disk full/);
    await first.stop();
    journal.failWhen = undefined;
    const second = await CaManager.start(options(clock, journal));
    record(second);
    await second.stop();
    assert.ok(second.keys().some((k) => k.status === "prepared"));
  });
});

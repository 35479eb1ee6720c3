import { createPublicKey, type KeyObject } from "node:crypto";
import type { Clock, TimerHandle } from "../../common/clock.js";
import { HallmarkError, isHallmarkError } from "../../common/errors.js";
import type { RandomSource } from "../../common/random.js";
import { bundleToPem, serializeBundle, type SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { TrustDomain } from "../../common/spiffe/spiffe-id.js";
import type { HsmKey, Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import type { KeyType } from "../../native/pkcs11/key-spec.js";
import { X509HsmSigner } from "./hsm-signer.js";
import type { UpstreamAuthority } from "./upstream-authority.js";
import {
  DEFAULT_JWT_SVID_TTL_MS,
  JwtSvidSigner,
  type IssuedJwtSvid,
  type JwtSvidRequest,
} from "./jwt-signer.js";
import type { JournalKey, KeyJournal, KeyJournalState, KeyKind } from "./key-journal.js";
import {
  DEFAULT_CA_TTL_MS,
  DEFAULT_X509_SVID_TTL_MS,
  X509Ca,
  type IssuedX509Svid,
  type X509SvidRequest,
} from "./x509-ca.js";

export interface CaManagerOptions {
  keyManager: Pkcs11KeyManager;
  journal: KeyJournal;
  trustDomain: TrustDomain;
  clock: Clock;
  random: RandomSource;
  /** Lifetime of each CA certificate and JWT signing key (default 24 h). */
  caTtlMs?: number;
  x509SvidTtlMs?: number;
  jwtSvidTtlMs?: number;
  /** Key types on the token (default: the key manager's configured keyType, else ec-p256). */
  caKeyType?: KeyType;
  jwtKeyType?: KeyType;
  /** JWT-SVIDs from RSA keys as PS256 rather than RS256. */
  jwtRsaPss?: boolean;
  /** spiffe_refresh_hint in seconds (default 300). */
  refreshHintSeconds?: number;
  /**
   * An upstream CA that signs each new CA certificate: SVIDs then chain to its roots, which are the
   * bundle's X.509 authorities, and the server's own CA certificates go out as intermediates.
   */
  upstream?: UpstreamAuthority;
}

export class CaError extends HallmarkError {}

interface Slot {
  record: JournalKey;
  x509?: X509Ca;
  jwt?: JwtSvidSigner;
  /** The public key for the bundle (JWT keys). */
  publicKey?: KeyObject;
  /** Latest expiry of anything this key signed; how long a retired key must stay in the bundle. */
  lastExpiryMs: number;
}

type ResolvedOptions = Required<
  Omit<CaManagerOptions, "jwtRsaPss" | "upstream" | "caKeyType" | "jwtKeyType">
> & {
  caKeyType: KeyType | undefined;
  jwtKeyType: KeyType | undefined;
  jwtRsaPss: boolean;
  upstream: UpstreamAuthority | undefined;
};

const MAX_TIMER_MS = 3_600_000;

/** Prepare the next key when this fraction of the active key's lifetime has passed... */
const PREPARE_AT = 1 / 2;
/** ...and switch to it when this fraction remains. */
const ACTIVATE_REMAINING = 1 / 6;

/**
 * The server's signing keys over time. For each kind (X.509 CA, JWT) one key is active; its successor is
 * made on the token at half-life and published in the bundle at once, so relying parties learn it before
 * anything is signed with it; it takes over when a sixth of the active key's life is left; the old key stays
 * in the bundle until the last SVID it signed has expired, and is then deleted from the token. The state
 * lives in a KeyJournal so that the active key survives a restart; all timing comes from the clock.
 */
export class CaManager {
  readonly trustDomain: TrustDomain;
  readonly #options: ResolvedOptions;
  #sequence: number;
  #slots: Slot[] = [];
  #bundle: SpiffeBundle;
  #timer: TimerHandle | undefined;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  #changedThisStep = false;
  readonly #listeners = new Set<(bundle: SpiffeBundle) => void>();

  private constructor(options: ResolvedOptions, sequence: number) {
    this.#options = options;
    this.trustDomain = options.trustDomain;
    this.#sequence = sequence;
    this.#bundle = this.#buildBundle();
  }

  /** Loads the journal, finds its keys on the token, creates what is missing and starts the rotation timer. */
  static async start(options: CaManagerOptions): Promise<CaManager> {
    const full = {
      caTtlMs: DEFAULT_CA_TTL_MS,
      x509SvidTtlMs: DEFAULT_X509_SVID_TTL_MS,
      jwtSvidTtlMs: DEFAULT_JWT_SVID_TTL_MS,
      caKeyType: undefined,
      jwtKeyType: undefined,
      refreshHintSeconds: 300,
      jwtRsaPss: false,
      upstream: undefined,
      ...options,
    };
    const state = await options.journal.load();
    const manager = new CaManager(full, state?.sequence ?? 0);
    for (const record of state?.keys ?? []) manager.#slots.push(await manager.#restore(record));
    manager.#bundle = manager.#buildBundle();
    await manager.tick();
    return manager;
  }

  /** The current trust bundle: every key that may have signed a still-valid SVID, and the next ones. */
  get bundle(): SpiffeBundle {
    return this.#bundle;
  }

  bundleJson(): string {
    return serializeBundle(this.#bundle);
  }

  bundlePem(): string {
    return bundleToPem(this.#bundle);
  }

  /** Called with the new bundle whenever its contents change. Returns an unsubscribe function. */
  onBundleChange(listener: (bundle: SpiffeBundle) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The key ids of each kind by status, for operators and tests. */
  keys(): { kind: KeyKind; keyId: string; status: JournalKey["status"]; notBefore: Date; notAfter: Date }[] {
    return this.#slots.map(({ record }) => ({
      kind: record.kind,
      keyId: record.keyId,
      status: record.status,
      notBefore: new Date(record.notBeforeMs),
      notAfter: new Date(record.notAfterMs),
    }));
  }

  async issueX509Svid(request: X509SvidRequest): Promise<IssuedX509Svid> {
    const slot = this.#active("x509");
    const ca = slot.x509;
    if (ca === undefined)
      throw new CaError("CA_NOT_READY", "no active X.509 CA", { category: "unavailable" });
    const ttlMs = request.ttlMs ?? this.#options.x509SvidTtlMs;
    // Recorded before signing, so a rotation that happens while the token signs still sees this SVID.
    slot.lastExpiryMs = Math.max(
      slot.lastExpiryMs,
      Math.min(this.#options.clock.nowMs() + ttlMs, ca.notAfter.getTime()),
    );
    return ca.issue({ ...request, ttlMs });
  }

  async signJwtSvid(request: JwtSvidRequest): Promise<IssuedJwtSvid> {
    const slot = this.#active("jwt");
    const signer = slot.jwt;
    if (signer === undefined)
      throw new CaError("CA_NOT_READY", "no active JWT signing key", { category: "unavailable" });
    const ttlMs = request.ttlMs ?? this.#options.jwtSvidTtlMs;
    slot.lastExpiryMs = Math.max(
      slot.lastExpiryMs,
      Math.min(this.#options.clock.nowMs() + ttlMs, signer.notAfterMs),
    );
    return signer.sign({ ...request, ttlMs });
  }

  /**
   * Runs one rotation step now (the timer runs it at every due instant); steps never overlap. A failed
   * step (token away) is retried by the timer a minute later.
   */
  tick(): Promise<void> {
    const run = this.#queue.then(() => this.#step());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  async #step(): Promise<void> {
    if (this.#stopped) return;
    this.#changedThisStep = false;
    try {
      for (const kind of ["x509", "jwt"] as const) await this.#rotate(kind);
      if (this.#changedThisStep) this.#publish();
      this.#schedule();
    } catch (err) {
      // What did change before the failure (a key made, a key removed) is real: publish it.
      if (this.#changedThisStep) this.#publish();
      this.#scheduleIn(60_000);
      throw err;
    }
  }

  /**
   * The bundle's contents are about to change: spiffe_sequence goes up once per step, before the first
   * journal write of the step, so a saved journal never pairs new contents with an old sequence.
   */
  #bundleChanging(): void {
    if (this.#changedThisStep) return;
    this.#changedThisStep = true;
    this.#sequence++;
  }

  /** Moves one kind of key along its life. */
  async #rotate(kind: KeyKind): Promise<void> {
    const now = this.#options.clock.nowMs();
    let active = this.#slots.find((s) => s.record.kind === kind && s.record.status === "active");
    let prepared = this.#slots.find((s) => s.record.kind === kind && s.record.status === "prepared");
    if (prepared !== undefined && now >= prepared.record.notAfterMs) {
      await this.#remove(prepared);
      prepared = undefined;
    }
    if (active === undefined || now >= active.record.notAfterMs) {
      // First start, or the server was down past the active key's end: there is no time to pre-publish.
      const next = prepared ?? (await this.#create(kind, now));
      if (active !== undefined) this.#retire(active, now);
      next.record.status = "active";
      active = next;
      prepared = undefined;
      await this.#save();
    }
    const life = active.record.notAfterMs - active.record.notBeforeMs;
    if (prepared === undefined && now >= active.record.notBeforeMs + life * PREPARE_AT) {
      prepared = await this.#create(kind, now);
    }
    if (prepared !== undefined && now >= active.record.notAfterMs - life * ACTIVATE_REMAINING) {
      this.#retire(active, now);
      prepared.record.status = "active";
      await this.#save();
    }
    for (const slot of this.#slots.filter((s) => s.record.kind === kind && s.record.status === "retired")) {
      if (now >= (slot.record.keepUntilMs ?? slot.record.notAfterMs)) await this.#remove(slot);
    }
  }

  #retire(slot: Slot, now: number): void {
    slot.record.status = "retired";
    slot.record.keepUntilMs = Math.min(Math.max(slot.lastExpiryMs, now), slot.record.notAfterMs);
  }

  /** Takes a key out of the bundle, then off the token; the journal is saved first so a crash cannot resurrect it. */
  async #remove(slot: Slot): Promise<void> {
    this.#bundleChanging();
    this.#slots = this.#slots.filter((s) => s !== slot);
    await this.#save();
    await this.#options.keyManager.deleteKey(slot.record.keyId);
  }

  async #create(kind: KeyKind, now: number): Promise<Slot> {
    const { keyManager, trustDomain, clock, random, caTtlMs } = this.#options;
    const keyId = `hallmark-${kind === "x509" ? "ca" : "jwt"}-${random.bytes(8).toString("hex")}`;
    const type = kind === "x509" ? this.#options.caKeyType : this.#options.jwtKeyType;
    const key = await keyManager.generateKey({
      id: keyId,
      label: `hallmark ${kind === "x509" ? "X.509 CA" : "JWT-SVID"} key`,
      type,
    });
    let slot: Slot;
    if (kind === "x509") {
      const ca = await X509Ca.create(
        {
          signer: new X509HsmSigner(keyManager, key),
          trustDomain,
          clock,
          random,
          upstream: this.#options.upstream,
        },
        caTtlMs,
      );
      const record: JournalKey = {
        keyId,
        kind,
        status: "prepared",
        notBeforeMs: ca.notBefore.getTime(),
        notAfterMs: ca.notAfter.getTime(),
        certificate: ca.certificate.toString("base64"),
      };
      slot = { record, x509: ca, lastExpiryMs: 0 };
    } else {
      const record: JournalKey = {
        keyId,
        kind,
        status: "prepared",
        notBeforeMs: now,
        notAfterMs: now + caTtlMs,
        publicKey: key.spki.toString("base64"),
      };
      slot = { record, jwt: this.#jwtSigner(record, key), publicKey: key.publicKey, lastExpiryMs: 0 };
    }
    this.#bundleChanging();
    this.#slots.push(slot);
    await this.#save();
    return slot;
  }

  /** A journal entry back in memory; keys still in use must be on the token, fail closed if not. */
  async #restore(record: JournalKey): Promise<Slot> {
    const { keyManager, trustDomain, clock, random } = this.#options;
    // After a restart nothing is known about what the key signed before: assume up to its end.
    const slot: Slot = { record, lastExpiryMs: record.notAfterMs };
    if (record.kind === "jwt") {
      if (record.publicKey === undefined)
        throw new CaError(
          "KEY_JOURNAL_CORRUPT",
          `journal entry for JWT key "${record.keyId}" has no public key`,
          { category: "failed_precondition" },
        );
      slot.publicKey = createPublicKey({
        key: Buffer.from(record.publicKey, "base64"),
        format: "der",
        type: "spki",
      });
    } else if (record.certificate === undefined) {
      throw new CaError(
        "KEY_JOURNAL_CORRUPT",
        `journal entry for CA key "${record.keyId}" has no certificate`,
        { category: "failed_precondition" },
      );
    }
    if (record.status === "retired") return slot;
    let key: HsmKey;
    try {
      key = await keyManager.getKey(record.keyId);
    } catch (err) {
      if (isHallmarkError(err) && err.code === "PKCS11_KEY_NOT_FOUND") {
        throw new CaError(
          "CA_KEY_MISSING",
          `the key journal names ${record.status} ${record.kind === "x509" ? "CA" : "JWT"} key "${record.keyId}", but token "${keyManager.tokenLabel}" has no such key`,
          {
            category: "failed_precondition",
            cause: err,
          },
        );
      }
      throw err;
    }
    if (record.kind === "x509") {
      slot.x509 = X509Ca.fromCertificate(
        {
          signer: new X509HsmSigner(keyManager, key),
          trustDomain,
          clock,
          random,
          upstream: this.#options.upstream,
        },
        Buffer.from(record.certificate ?? "", "base64"),
      );
    } else {
      if (!key.publicKey.equals(slot.publicKey!)) {
        throw new CaError(
          "CA_KEY_MISMATCH",
          `token key "${record.keyId}" is not the JWT key the journal recorded`,
          { category: "failed_precondition" },
        );
      }
      slot.jwt = this.#jwtSigner(record, key);
    }
    return slot;
  }

  #jwtSigner(record: JournalKey, key: HsmKey): JwtSvidSigner {
    const { keyManager, trustDomain, clock, random, jwtRsaPss } = this.#options;
    return new JwtSvidSigner({
      keyManager,
      key,
      trustDomain,
      clock,
      random,
      notAfterMs: record.notAfterMs,
      rsaPss: jwtRsaPss,
    });
  }

  #active(kind: KeyKind): Slot {
    const slot = this.#slots.find((s) => s.record.kind === kind && s.record.status === "active");
    if (slot === undefined)
      throw new CaError("CA_NOT_READY", `no active ${kind === "x509" ? "X.509 CA" : "JWT"} key`, {
        category: "unavailable",
      });
    return slot;
  }

  async #save(): Promise<void> {
    const state: KeyJournalState = {
      version: 1,
      sequence: this.#sequence,
      keys: this.#slots.map((s) => s.record),
    };
    await this.#options.journal.save(state);
  }

  #publish(): void {
    this.#bundle = this.#buildBundle();
    for (const listener of this.#listeners) listener(this.#bundle);
  }

  #buildBundle(): SpiffeBundle {
    const byStart = [...this.#slots].sort((a, b) => a.record.notBeforeMs - b.record.notBeforeMs);
    return {
      trustDomain: this.trustDomain,
      sequence: this.#sequence,
      refreshHintSeconds: this.#options.refreshHintSeconds,
      x509Authorities:
        this.#options.upstream?.roots ??
        byStart
          .filter((s) => s.record.kind === "x509")
          .map((s) => Buffer.from(s.record.certificate ?? "", "base64")),
      jwtAuthorities: byStart.flatMap((s) =>
        s.record.kind === "jwt" && s.publicKey !== undefined
          ? [{ keyId: s.record.keyId, publicKey: s.publicKey }]
          : [],
      ),
    };
  }

  /** The next instant anything is due: a preparation, an activation, a removal, an expiry. */
  #schedule(): void {
    const now = this.#options.clock.nowMs();
    let next = Infinity;
    for (const { record } of this.#slots) {
      const life = record.notAfterMs - record.notBeforeMs;
      if (record.status === "active") {
        const hasPrepared = this.#slots.some(
          (s) => s.record.kind === record.kind && s.record.status === "prepared",
        );
        next = Math.min(
          next,
          hasPrepared
            ? record.notAfterMs - life * ACTIVATE_REMAINING
            : record.notBeforeMs + life * PREPARE_AT,
          record.notAfterMs,
        );
      } else if (record.status === "retired") {
        next = Math.min(next, record.keepUntilMs ?? record.notAfterMs);
      }
    }
    // Capped: timers cannot wait past 2^31 ms, and an hourly look costs nothing.
    if (next !== Infinity) this.#scheduleIn(Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(next - now))));
  }

  #scheduleIn(delayMs: number): void {
    this.#timer?.cancel();
    if (this.#stopped) return;
    this.#timer = this.#options.clock.setTimer(() => {
      this.tick().catch(() => undefined);
    }, delayMs);
  }
}

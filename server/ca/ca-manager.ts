import type { Clock, TimerHandle } from "../../common/clock.js";
import { errorMessage, throwIfAborted } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import type { RandomSource } from "../../common/random.js";
import { bundleToPem, serializeBundle, type SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { TrustDomain } from "../../common/spiffe/spiffe-id.js";
import type { Listener, Subscription } from "../../common/subscription.js";
import { BundlePublisher } from "./bundle-publisher.js";
import { CaError } from "./ca-error.js";
import { RETRY_BASE_MS, RotationHealth, errorCode, retryDelayMs, type CaHealth } from "./ca-health.js";
import { CaKeys } from "./ca-keys.js";
import type { KeyObject } from "node:crypto";
import { PUBLISHED, loadSlot, type Slot } from "./ca-slot.js";
import type { UpstreamAuthority } from "./upstream-authority.js";
import { DEFAULT_JWT_SVID_TTL_MS, type IssuedJwtSvid, type JwtSvidRequest } from "./jwt-signer.js";
import type { JournalKey, KeyJournal, KeyKind } from "./key-journal.js";
import type { KeyType } from "../../native/pkcs11/index.js";
import type { KeyManager, KeyOperationOptions } from "./key-manager.js";
import { nextStepDueMs } from "./rotation-policy.js";
import {
  DEFAULT_CA_TTL_MS,
  DEFAULT_X509_SVID_TTL_MS,
  type IssuedX509Svid,
  type X509SvidRequest,
} from "./x509-ca.js";

export interface CaManagerOptions {
  /** Where the CA and JWT keys live: in production a PKCS#11 token (Pkcs11KeyManager). */
  keyManager: KeyManager;
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
  /**
   * The delegation token key (docs/delegation.md), made and rotated like the JWT key when set; absent:
   * the delegation endpoint is off and no such key is made (one left from an earlier run stays idle).
   */
  delegationKeyType?: DelegationKeyType;
  /** JWT-SVIDs from RSA keys as PS256 rather than RS256. */
  jwtRsaPss?: boolean;
  /** spiffe_refresh_hint in seconds (default 300). */
  refreshHintSeconds?: number;
  /**
   * An upstream CA that signs each new CA certificate: SVIDs then chain to its roots, which are the
   * bundle's X.509 authorities, and the server's own CA certificates go out as intermediates.
   */
  upstream?: UpstreamAuthority;
  /**
   * Where failed rotation steps (a token outage) and other events worth an operator's attention (an
   * unannounced activation, an orphan key deleted, a failing bundle subscriber) go. Required: a failure
   * of the timer-driven rotation has no caller to throw to.
   */
  logger: Logger;
}

type ResolvedOptions = Required<
  Omit<CaManagerOptions, "jwtRsaPss" | "upstream" | "caKeyType" | "jwtKeyType" | "delegationKeyType">
> & {
  caKeyType: KeyType | undefined;
  jwtKeyType: KeyType | undefined;
  delegationKeyType: DelegationKeyType | undefined;
  jwtRsaPss: boolean;
  upstream: UpstreamAuthority | undefined;
};

/** The delegation key types: EC only, so that every verifier needs exactly ES256 and ES384. */
export type DelegationKeyType = Extract<KeyType, "ec-p256" | "ec-p384">;

/** A delegation key as the JWKS publishes it. */
export interface PublishedDelegationKey {
  keyId: string;
  publicKey: KeyObject;
  status: JournalKey["status"];
}

/** The delegation key about to sign. */
export interface DelegationSigningKey {
  keyId: string;
  type: KeyType;
  publicKey: KeyObject;
  /** It must not sign tokens that outlive this instant. */
  notAfterMs: number;
}

const ACTIVE_NAME: Record<KeyKind, string> = { x509: "X.509 CA", jwt: "JWT", delegation: "delegation" };

/** Timers cannot wait past 2^31 ms, and an hourly look costs nothing. */
const MAX_TIMER_MS = 3_600_000;

/**
 * The server's signing keys over time. For each kind (X.509 CA, JWT) one key is active; its successor is
 * made on the token at half-life and published in the bundle at once; it takes over when a sixth of the
 * active key's life is left and it has been published for at least the refresh hint, so relying parties
 * know it before anything is signed with it; the old key stays in the bundle until the last SVID it signed
 * has expired, and is then deleted from the token. When (rotation-policy.ts) is a pure function of times;
 * CaKeys (ca-keys.ts) carries it out, journaling every change before the token sees it, so that the active
 * key survives a restart and no key is left on the token that the journal does not name. The bundle goes
 * out through BundlePublisher (bundle-publisher.ts).
 *
 * This class runs the steps (one at a time, at the instants the policy names), issues SVIDs with the
 * active keys, and keeps the record health() reads: a failed step (token away) is logged and retried
 * with backoff (ca-health.ts).
 */
export class CaManager {
  readonly trustDomain: TrustDomain;
  readonly #options: ResolvedOptions;
  readonly #keys: CaKeys;
  readonly #bundles: BundlePublisher;
  readonly #health = new RotationHealth();
  #timer: TimerHandle | undefined;
  #nextStepMs: number | undefined;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  /** The kinds of key this server makes and rotates. */
  get #kinds(): readonly KeyKind[] {
    return this.#options.delegationKeyType === undefined ? ["x509", "jwt"] : ["x509", "jwt", "delegation"];
  }

  private constructor(options: ResolvedOptions, sequence: number, slots: Slot[]) {
    this.#options = options;
    this.trustDomain = options.trustDomain;
    const { trustDomain, refreshHintSeconds, upstream, logger } = options;
    this.#bundles = new BundlePublisher(
      { trustDomain, refreshHintSeconds, upstream, sequence, logger },
      slots,
    );
    this.#keys = new CaKeys(options, this.#bundles, slots);
  }

  /**
   * Loads the journal, finds its keys on the token, deletes orphan keys, creates what is missing and starts
   * the rotation timer. If any of that fails, nothing keeps running: the error is thrown. `callOptions.signal`
   * bounds the start-up's key store calls.
   */
  static async start(options: CaManagerOptions, callOptions: KeyOperationOptions = {}): Promise<CaManager> {
    throwIfAborted(callOptions.signal, "starting the CA");
    const full: ResolvedOptions = {
      caTtlMs: DEFAULT_CA_TTL_MS,
      x509SvidTtlMs: DEFAULT_X509_SVID_TTL_MS,
      jwtSvidTtlMs: DEFAULT_JWT_SVID_TTL_MS,
      caKeyType: undefined,
      jwtKeyType: undefined,
      delegationKeyType: undefined,
      refreshHintSeconds: 300,
      jwtRsaPss: false,
      upstream: undefined,
      ...options,
    };
    const state = await options.journal.load();
    const slots: Slot[] = [];
    for (const record of state?.keys ?? []) slots.push(await loadSlot(record, full, callOptions));
    const manager = new CaManager(full, state?.sequence ?? 0, slots);
    try {
      await manager.#keys.deleteOrphans(callOptions);
      await manager.#enqueue(true, callOptions);
    } catch (err) {
      // The caller never receives this manager: it must not go on rotating (and retrying) in the background.
      await manager.stop();
      throw err;
    }
    return manager;
  }

  /** The current trust bundle: every key that may have signed a still-valid SVID, and the next ones. */
  get bundle(): SpiffeBundle {
    return this.#bundles.current;
  }

  bundleJson(): string {
    return serializeBundle(this.bundle);
  }

  bundlePem(): string {
    return bundleToPem(this.bundle);
  }

  /**
   * Calls `listener` with the current bundle at once, then with each new one. A listener that throws, or
   * whose promise rejects, is logged and skipped; a slow one gets only the newest bundle when it is done.
   * Neither ever holds up rotation or another subscriber. `close()` the subscription to stop.
   */
  subscribeToBundle(listener: Listener<SpiffeBundle>): Subscription {
    return this.#bundles.subscribe(listener);
  }

  /** The bundles as an async iterator (current first, then the newest each time it is asked), for streams. */
  bundleUpdates(signal?: AbortSignal): AsyncIterableIterator<SpiffeBundle> {
    return this.#bundles.values(signal);
  }

  /** What a health check reads: whether rotation works, the last failure, and when the next step runs. */
  health(): CaHealth {
    const now = this.#options.clock.nowMs();
    const signing = this.#kinds.every((kind) => {
      const active = this.#keys.find(kind, "active");
      return active !== undefined && now < active.record.notAfterMs;
    });
    return this.#health.snapshot(signing, this.#nextStepMs);
  }

  /** The key ids of each kind by status, for operators and tests. */
  keys(): { kind: KeyKind; keyId: string; status: JournalKey["status"]; notBefore: Date; notAfter: Date }[] {
    return this.#keys.slots.map(({ record }) => ({
      kind: record.kind,
      keyId: record.keyId,
      status: record.status,
      notBefore: new Date(record.notBeforeMs),
      notAfter: new Date(record.notAfterMs),
    }));
  }

  /**
   * The delegation keys to publish (the JWKS): the one that signs, the next once prepared, and earlier
   * ones until the last token they signed has expired. Empty when delegation is off.
   */
  delegationPublicKeys(): PublishedDelegationKey[] {
    return this.#keys.slots
      .filter(
        (s) => s.record.kind === "delegation" && PUBLISHED.has(s.record.status) && s.publicKey !== undefined,
      )
      .sort((a, b) => a.record.notBeforeMs - b.record.notBeforeMs)
      .map((s) => ({ keyId: s.record.keyId, publicKey: s.publicKey!, status: s.record.status }));
  }

  /**
   * Signs `data` (a JWS signing input) with the active delegation key, for a token that expires at
   * `expiresAtMs` (capped at the key's end by the caller: `key.notAfterMs`). `build` receives the key
   * first, so the header can name it; the key is the one that signs, even across a rotation.
   */
  async signWithDelegationKey(
    build: (key: DelegationSigningKey) => { data: Buffer; expiresAtMs: number },
    options: KeyOperationOptions = {},
  ): Promise<{ key: DelegationSigningKey; data: Buffer; signature: Buffer }> {
    throwIfAborted(options.signal, "signing a delegation token");
    const slot = this.#active("delegation");
    const managed = slot.delegation;
    if (managed === undefined || slot.publicKey === undefined)
      throw new CaError("CA_NOT_READY", "no active delegation key", { category: "unavailable" });
    const key: DelegationSigningKey = {
      keyId: managed.id,
      type: managed.type,
      publicKey: slot.publicKey,
      notAfterMs: slot.record.notAfterMs,
    };
    const { data, expiresAtMs } = build(key);
    this.#noteExpiry(slot, expiresAtMs - this.#options.clock.nowMs(), slot.record.notAfterMs);
    const scheme = managed.type === "ec-p384" ? "ecdsa-sha384" : "ecdsa-sha256";
    const signature = await this.#options.keyManager.sign(managed, data, scheme, options);
    return { key, data, signature };
  }

  /** `options.signal`: the caller's deadline, checked first and passed on to the key store. */
  async issueX509Svid(request: X509SvidRequest, options: KeyOperationOptions = {}): Promise<IssuedX509Svid> {
    throwIfAborted(options.signal, "issuing an X.509-SVID");
    const slot = this.#active("x509");
    const ca = slot.x509;
    if (ca === undefined)
      throw new CaError("CA_NOT_READY", "no active X.509 CA", { category: "unavailable" });
    const ttlMs = request.ttlMs ?? this.#options.x509SvidTtlMs;
    this.#noteExpiry(slot, ttlMs, ca.notAfter.getTime());
    return ca.issue({ ...request, ttlMs }, options);
  }

  /** `options.signal`: the caller's deadline, checked first and passed on to the key store. */
  async signJwtSvid(request: JwtSvidRequest, options: KeyOperationOptions = {}): Promise<IssuedJwtSvid> {
    throwIfAborted(options.signal, "signing a JWT-SVID");
    const slot = this.#active("jwt");
    const signer = slot.jwt;
    if (signer === undefined)
      throw new CaError("CA_NOT_READY", "no active JWT signing key", { category: "unavailable" });
    const ttlMs = request.ttlMs ?? this.#options.jwtSvidTtlMs;
    this.#noteExpiry(slot, ttlMs, signer.notAfterMs);
    return signer.sign({ ...request, ttlMs }, options);
  }

  /**
   * How long `slot` must stay in the bundle for what it is about to sign (capped, like the SVID, at the
   * key's own end). Recorded before signing, so a rotation while the token signs still sees this SVID.
   */
  #noteExpiry(slot: Slot, ttlMs: number, keyNotAfterMs: number): void {
    const expiresMs = Math.min(this.#options.clock.nowMs() + ttlMs, keyNotAfterMs);
    slot.lastExpiryMs = Math.max(slot.lastExpiryMs, expiresMs);
  }

  /**
   * Runs one rotation step now (the timer runs it at every due instant); steps never overlap. A failed
   * step (token away) is logged, recorded for health() and retried by the timer with backoff; one kind's
   * failure does not hold up the other. `options.signal` bounds this step's key store calls.
   */
  tick(options: KeyOperationOptions = {}): Promise<void> {
    return this.#enqueue(false, options);
  }

  /** Resolves once every step queued so far has run (whatever its outcome). */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Stops the timer and waits for a running step, so the key manager can be closed safely afterwards. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#nextStepMs = undefined;
    await this.#queue;
  }

  #enqueue(failFast: boolean, options: KeyOperationOptions): Promise<void> {
    const run = this.#queue.then(() => this.#step(failFast, options));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** `failFast` (start-up): stop at the first error, so that a failed start makes nothing more. */
  async #step(failFast: boolean, options: KeyOperationOptions): Promise<void> {
    if (this.#stopped) return;
    const errors: unknown[] = [];
    this.#keys.collectDeletionErrors(errors);
    try {
      throwIfAborted(options.signal, "a CA rotation step");
      if (this.#keys.unsaved) await this.#keys.save();
      await this.#keys.finishDeletions(options);
      for (const kind of this.#kinds) {
        try {
          await this.#keys.rotate(kind, options);
        } catch (err) {
          if (failFast) throw err;
          errors.push(err);
        }
      }
    } catch (err) {
      errors.push(err);
    }
    // What changed before a failure (a key made, a key removed) is real: publish it, but only once it is
    // in the journal, so that a restart can never publish the same spiffe_sequence with other contents.
    if (!this.#keys.unsaved) this.#bundles.publishIfChanged(this.#keys.slots);
    const now = this.#options.clock.nowMs();
    if (errors.length === 0) {
      this.#health.succeeded(now);
      this.#schedule();
      return;
    }
    const [first] = errors;
    if (options.signal?.aborted === true) {
      // The caller cancelled this step: that says nothing about the token, so it is neither counted nor
      // logged as a failure. What it left undone, the timer finishes soon.
      this.#scheduleIn(RETRY_BASE_MS);
      throw first;
    }
    this.#health.failed(first, now);
    const retryMs = retryDelayMs(this.#health.consecutiveFailures);
    if (!failFast) {
      this.#options.logger.error(
        {
          code: errorCode(first),
          err: errorMessage(first),
          failures: errors.length,
          consecutiveFailures: this.#health.consecutiveFailures,
          retryInMs: retryMs,
        },
        "CA key rotation step failed; retrying",
      );
    }
    this.#scheduleIn(retryMs);
    throw first;
  }

  #active(kind: KeyKind): Slot {
    const slot = this.#keys.find(kind, "active");
    if (slot === undefined)
      throw new CaError("CA_NOT_READY", `no active ${ACTIVE_NAME[kind]} key`, {
        category: "unavailable",
      });
    return slot;
  }

  /** The next instant anything is due: a preparation, an activation, a removal, an expiry. */
  #schedule(): void {
    const now = this.#options.clock.nowMs();
    const next = nextStepDueMs(this.#keys.records(), this.#keys.propagationMs, this.#kinds);
    if (next !== Infinity)
      this.#scheduleIn(Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(next - now))), Math.max(now, next));
  }

  /** `dueMs`: when something is really due (the timer may look earlier, see MAX_TIMER_MS), for health(). */
  #scheduleIn(delayMs: number, dueMs = this.#options.clock.nowMs() + delayMs): void {
    this.#timer?.cancel();
    if (this.#stopped) return;
    this.#nextStepMs = dueMs;
    this.#timer = this.#options.clock.setTimer(() => {
      // #step has logged the failure and recorded it for health(); nobody awaits a timer's step.
      this.tick().catch(() => undefined);
    }, delayMs);
  }
}

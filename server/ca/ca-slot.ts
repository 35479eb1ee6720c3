import { createPublicKey, type KeyObject } from "node:crypto";
import type { Clock } from "../../common/clock.js";
import type { RandomSource } from "../../common/random.js";
import type { TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { CaError } from "./ca-error.js";
import { X509HsmSigner } from "./hsm-signer.js";
import { IssuanceError } from "./issuance-error.js";
import { JwtSvidSigner } from "./jwt-signer.js";
import { journalCorrupt, type JournalKey } from "./key-journal.js";
import type { KeyType } from "../../native/pkcs11/index.js";
import type { KeyManager, KeyOperationOptions, ManagedKey } from "./key-manager.js";
import type { UpstreamAuthority } from "./upstream-authority.js";
import { X509Ca } from "./x509-ca.js";

/** One key of the CaManager: its journal entry and, while it can sign, its signer. */
export interface Slot {
  record: JournalKey;
  x509?: X509Ca;
  jwt?: JwtSvidSigner;
  /** The delegation key on the token, while it can sign. */
  delegation?: ManagedKey;
  /** The public key for the bundle (JWT keys) or the JWKS (delegation keys). */
  publicKey?: KeyObject;
  /** Latest expiry of anything this key signed; how long a retired key must stay in the bundle. */
  lastExpiryMs: number;
}

/** What making or loading a key needs. */
export interface SlotContext {
  keyManager: KeyManager;
  trustDomain: TrustDomain;
  clock: Clock;
  random: RandomSource;
  upstream: UpstreamAuthority | undefined;
  jwtRsaPss: boolean;
  caTtlMs: number;
}

/** Ids of the keys the CA makes; a key with such an id that no journal entry names is an orphan. */
const KEY_ID_PREFIX: Record<JournalKey["kind"], string> = {
  x509: "hallmark-ca-",
  jwt: "hallmark-jwt-",
  delegation: "hallmark-dlg-",
};
const OWN_KEY_ID = /^hallmark-(ca|jwt|dlg)-[0-9a-f]{16}$/;
const KIND_OF_PREFIX: Record<string, JournalKey["kind"]> = { ca: "x509", jwt: "jwt", dlg: "delegation" };
const KEY_LABEL: Record<JournalKey["kind"], string> = {
  x509: "hallmark X.509 CA key",
  jwt: "hallmark JWT-SVID key",
  delegation: "hallmark delegation key",
};
/** How messages name each kind. */
const KIND_NAME: Record<JournalKey["kind"], string> = { x509: "CA", jwt: "JWT", delegation: "delegation" };

export function newKeyId(kind: JournalKey["kind"], random: RandomSource): string {
  return `${KEY_ID_PREFIX[kind]}${random.bytes(8).toString("hex")}`;
}

export function isOwnKeyId(id: string): boolean {
  return OWN_KEY_ID.test(id);
}

/** Which kind of key the CA made under `id`; undefined if not one of its own. */
export function keyKindOfId(id: string): JournalKey["kind"] | undefined {
  const match = OWN_KEY_ID.exec(id);
  return match === null ? undefined : KIND_OF_PREFIX[match[1] ?? ""];
}

/** What the bundle publishes; pending keys are not made yet, deleting ones are on their way out. */
export const PUBLISHED: ReadonlySet<JournalKey["status"]> = new Set(["prepared", "active", "retired"]);

/**
 * Generates the slot's key in the key store and makes what signs with it: a CA certificate (X.509) or a
 * JWT signer. Fills in the record's validity and certificate or public key.
 */
export async function makeSlotKey(
  slot: Slot,
  type: KeyType | undefined,
  context: SlotContext,
  options: KeyOperationOptions = {},
): Promise<void> {
  const { keyManager, trustDomain, clock, random, upstream, caTtlMs } = context;
  const { record } = slot;
  const key = await keyManager.generateKey(
    {
      id: record.keyId,
      label: KEY_LABEL[record.kind],
      type,
    },
    options,
  );
  if (record.kind === "x509") {
    const ca = await X509Ca.create(
      { signer: new X509HsmSigner(keyManager, key), trustDomain, clock, random, upstream },
      caTtlMs,
      options,
    );
    record.notBeforeMs = ca.notBefore.getTime();
    record.notAfterMs = ca.notAfter.getTime();
    record.certificate = ca.certificate.toString("base64");
    slot.x509 = ca;
  } else {
    record.notAfterMs = record.notBeforeMs + caTtlMs;
    record.publicKey = key.spki.toString("base64");
    slot.publicKey = key.publicKey;
    if (record.kind === "jwt") slot.jwt = jwtSigner(record, key, context);
    else slot.delegation = key;
  }
}

/** A journal entry back in memory; keys still in use must be in the key store, fail closed if not. */
export async function loadSlot(
  record: JournalKey,
  context: SlotContext,
  options: KeyOperationOptions = {},
): Promise<Slot> {
  const { keyManager, trustDomain, clock, random, upstream } = context;
  // After a restart nothing is known about what the key signed before: assume up to its end.
  const slot: Slot = { record, lastExpiryMs: record.notAfterMs };
  // Not made yet, or on its way out: nothing to load, the next step deletes it from the token.
  if (!PUBLISHED.has(record.status)) return slot;
  if (record.kind !== "x509") {
    if (record.publicKey === undefined)
      throw journalCorrupt(
        `journal entry for ${KIND_NAME[record.kind]} key "${record.keyId}" has no public key`,
      );
    slot.publicKey = createPublicKey({
      key: Buffer.from(record.publicKey, "base64"),
      format: "der",
      type: "spki",
    });
  } else if (record.certificate === undefined) {
    throw journalCorrupt(`journal entry for CA key "${record.keyId}" has no certificate`);
  }
  if (record.status === "retired") return slot;
  const key = await keyManager.findKey(record.keyId, options);
  if (key === undefined) {
    throw new CaError(
      "CA_KEY_MISSING",
      `the key journal names ${record.status} ${KIND_NAME[record.kind]} key "${record.keyId}", but token "${keyManager.tokenLabel}" has no such key`,
      { category: "failed_precondition" },
    );
  }
  if (record.kind === "x509") {
    // Also refuses a certificate of another trust domain (a journal copied from elsewhere).
    slot.x509 = X509Ca.fromCertificate(
      { signer: new X509HsmSigner(keyManager, key), trustDomain, clock, random, upstream },
      Buffer.from(record.certificate ?? "", "base64"),
    );
  } else {
    if (!key.publicKey.equals(slot.publicKey!)) {
      throw new IssuanceError(
        "CA_KEY_MISMATCH",
        `token key "${record.keyId}" is not the ${KIND_NAME[record.kind]} key the journal recorded`,
        { category: "failed_precondition" },
      );
    }
    if (record.kind === "jwt") slot.jwt = jwtSigner(record, key, context);
    else slot.delegation = key;
  }
  return slot;
}

function jwtSigner(record: JournalKey, key: ManagedKey, context: SlotContext): JwtSvidSigner {
  const { keyManager, trustDomain, clock, random, jwtRsaPss } = context;
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

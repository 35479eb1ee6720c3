import { HallmarkError } from "../../../common/errors.js";
import { TPM_HANDLE_RANGE, TPM_PT, TPM_RH, isHashAlg } from "../constants.js";
import { getHandles, getTpmProperties } from "../commands/capability.js";
import { nvRead, nvReadPublic } from "../commands/nv.js";
import { flushContext, readPublic } from "../commands/objects.js";
import { createPrimaryUnderHierarchy } from "./primary.js";
import { TPM_RC, isTpmError } from "../rc.js";
import type { TpmtPublic } from "../structures/public.js";
import type { Tpm } from "../tpm.js";
import { ekPolicyPlan, type EkPolicyPlan } from "../ek-policy.js";
import { EK_SLOTS, type EkKind, type EkSlot } from "./templates.js";

/** The endorsement key in use: where it is loaded, its public area, and its certificate if any. */
export interface Ek {
  readonly kind: EkKind;
  readonly handle: number;
  /** True when we created it with CreatePrimary: it occupies a transient slot until `release`. */
  readonly transient: boolean;
  readonly public: TpmtPublic;
  /** The marshalled TPMT_PUBLIC exactly as the TPM returned it. */
  readonly publicArea: Buffer;
  readonly name: Buffer;
  /** How to satisfy its authPolicy for ActivateCredential. */
  readonly policy: EkPolicyPlan;
  /** DER EK certificate from its NV index; null for a TPM shipped without one. */
  readonly certificate: Buffer | null;
  readonly certIndex: number;
}

export interface OpenEkOptions {
  /** Which EK to use; by default the first persistent one (RSA, ECC P-256, ECC P-384), else RSA created from L-1. */
  readonly kind?: EkKind;
  /** Endorsement hierarchy password, when CreatePrimary is needed (empty on most machines). */
  readonly endorsementAuth?: Uint8Array;
}

/** Why the EK could not be used: an EK kind hallmark does not know, or an object that is not an EK. */
export type EkErrorCode = "TPM_EK_KIND_INVALID" | "TPM_EK_INVALID";

export class EkError extends HallmarkError<EkErrorCode> {}

function slotOf(kind: EkKind): EkSlot {
  const slot = EK_SLOTS.find((s) => s.kind === kind);
  if (!slot)
    throw new EkError("TPM_EK_KIND_INVALID", `unknown EK kind ${kind as string}`, {
      category: "invalid_argument",
    });
  return slot;
}

function planFor(pub: TpmtPublic, where: string): EkPolicyPlan {
  const plan = isHashAlg(pub.nameAlg) ? ekPolicyPlan(pub.nameAlg, pub.authPolicy) : null;
  const isEkShape =
    pub.objectAttributes.restricted &&
    pub.objectAttributes.decrypt &&
    !pub.objectAttributes.signEncrypt &&
    pub.objectAttributes.fixedTPM &&
    pub.objectAttributes.fixedParent;
  if (!plan || !isEkShape) {
    throw new EkError(
      "TPM_EK_INVALID",
      `${where} is not an EK of the TCG EK Credential Profile (attributes or authPolicy differ)`,
      { category: "failed_precondition" },
    );
  }
  return plan;
}

/** The EK certificate (DER) from its NV index, or null when the index is not defined. */
export async function readEkCertificate(tpm: Tpm, certIndex: number): Promise<Buffer | null> {
  let nvPublic;
  try {
    ({ nvPublic } = await nvReadPublic(tpm, certIndex));
  } catch (err) {
    // An undefined index is TPM_RC_HANDLE: a TPM shipped without this certificate.
    if (isTpmError(err, TPM_RC.HANDLE)) return null;
    throw err;
  }
  const nvBufferMax = (await getTpmProperties(tpm, TPM_PT.NV_BUFFER_MAX, 1)).get(TPM_PT.NV_BUFFER_MAX);
  const raw = await nvRead(tpm, certIndex, { maxChunk: nvBufferMax || 512, nvPublic });
  return trimDer(raw);
}

/**
 * Some manufacturers pad the NV index past the certificate; the DER length says where it ends.
 */
function trimDer(raw: Buffer): Buffer {
  if (raw.length < 4 || raw[0] !== 0x30) return raw;
  const first = raw[1] as number;
  if (first < 0x80) return raw.subarray(0, 2 + first);
  const n = first & 0x7f;
  if (n < 1 || n > 3 || raw.length < 2 + n) return raw;
  let len = 0;
  for (let i = 0; i < n; i++) len = (len << 8) | (raw[2 + i] as number);
  const end = 2 + n + len;
  return end <= raw.length ? raw.subarray(0, end) : raw;
}

async function persistentEkHandles(tpm: Tpm): Promise<Set<number>> {
  const range = TPM_HANDLE_RANGE.persistentEndorsement;
  return new Set((await getHandles(tpm, range.first)).filter((h) => h <= range.last));
}

/** The first provisioned EK; failing that, the first with a certificate; failing that, RSA (L-1). */
async function defaultSlot(tpm: Tpm, present: Set<number>): Promise<EkSlot> {
  const persistent = EK_SLOTS.find((s) => present.has(s.persistentHandle));
  if (persistent) return persistent;
  for (const s of EK_SLOTS) {
    if (await nvIndexDefined(tpm, s.certIndex)) return s;
  }
  return slotOf("rsa2048");
}

async function nvIndexDefined(tpm: Tpm, index: number): Promise<boolean> {
  try {
    await nvReadPublic(tpm, index);
    return true;
  } catch (err) {
    if (isTpmError(err, TPM_RC.HANDLE)) return false;
    throw err;
  }
}

/**
 * Finds the EK: persistent at its TCG handle if provisioned, otherwise re-created from the
 * profile's template (same seed + same template = the same key the certificate was issued for).
 * Call `releaseEk` afterwards: a created EK holds a transient slot.
 */
export async function openEk(tpm: Tpm, options: OpenEkOptions = {}): Promise<Ek> {
  const present = await persistentEkHandles(tpm);
  const slot = options.kind !== undefined ? slotOf(options.kind) : await defaultSlot(tpm, present);
  const certificate = await readEkCertificate(tpm, slot.certIndex);
  if (present.has(slot.persistentHandle)) {
    const where = `persistent handle 0x${slot.persistentHandle.toString(16)}`;
    const p = await readPublic(tpm, slot.persistentHandle);
    return {
      kind: slot.kind,
      handle: slot.persistentHandle,
      transient: false,
      public: p.public,
      publicArea: p.publicArea,
      name: p.name,
      policy: planFor(p.public, where),
      certificate,
      certIndex: slot.certIndex,
    };
  }
  const created = await createPrimaryUnderHierarchy(tpm, TPM_RH.ENDORSEMENT, slot.template(), {
    ...(options.endorsementAuth === undefined ? {} : { hierarchyAuth: options.endorsementAuth }),
  });
  try {
    return {
      kind: slot.kind,
      handle: created.handle,
      transient: true,
      public: created.public,
      publicArea: created.publicArea,
      name: created.name,
      policy: planFor(created.public, `the ${slot.kind} EK template`),
      certificate,
      certIndex: slot.certIndex,
    };
  } catch (err) {
    await flushContext(tpm, created.handle).catch(() => undefined);
    throw err;
  }
}

/** Frees the EK's transient slot if we created it; a persistent EK stays. */
export async function releaseEk(tpm: Tpm, ek: Ek): Promise<void> {
  if (ek.transient) await flushContext(tpm, ek.handle);
}

import type { TpmWriter, TpmReader } from "../marshal.js";
import { TpmFormatError } from "../marshal.js";
import { TPM_RH, TPM_ST } from "../constants.js";
import { readName, readTpm2b, writeName, writeTpm2b } from "./buffers.js";
import { readPcrSelectionList, writePcrSelectionList } from "./pcr.js";
import type { PcrSelection } from "./pcr.js";
import { readHashAlg } from "./alg.js";
import type { TPM_ALG, TpmHashAlg } from "../constants.js";
import { unmarshalExact } from "./codec.js";

/**
 * A ticket (Part 2, 10.7): TPMT_TK_CREATION, TPMT_TK_VERIFIED, TPMT_TK_AUTH, TPMT_TK_HASHCHECK all
 * share this layout and differ only in the tag.
 */
export interface TpmtTicket {
  readonly tag: number;
  readonly hierarchy: number;
  readonly digest: Buffer;
}

export const TICKET_TAGS = {
  creation: TPM_ST.CREATION,
  verified: TPM_ST.VERIFIED,
  authSecret: TPM_ST.AUTH_SECRET,
  authSigned: TPM_ST.AUTH_SIGNED,
  hashcheck: TPM_ST.HASHCHECK,
} as const;
export type TicketKind = keyof typeof TICKET_TAGS;

const ALLOWED_TAGS: Record<TicketKind, readonly number[]> = {
  creation: [TPM_ST.CREATION],
  verified: [TPM_ST.VERIFIED],
  // TPMT_TK_AUTH is either kind, set by TPM2_PolicySecret or TPM2_PolicySigned.
  authSecret: [TPM_ST.AUTH_SECRET, TPM_ST.AUTH_SIGNED],
  authSigned: [TPM_ST.AUTH_SECRET, TPM_ST.AUTH_SIGNED],
  // TPM2_Sign's `validation` may be the NULL ticket, whose tag is TPM_ST_HASHCHECK too.
  hashcheck: [TPM_ST.HASHCHECK],
};

/** TPMI_RH_HIERARCHY+: the hierarchy a ticket was made in (NULL for a NULL ticket). */
const HIERARCHIES: readonly number[] = [TPM_RH.OWNER, TPM_RH.ENDORSEMENT, TPM_RH.PLATFORM, TPM_RH.NULL];

export function readTicket(
  r: TpmReader,
  kind: TicketKind,
  field = `TPMT_TK_${kind.toUpperCase()}`,
): TpmtTicket {
  const tag = r.u16(`${field}.tag`);
  if (!ALLOWED_TAGS[kind].includes(tag)) {
    throw new TpmFormatError(
      `${field}.tag`,
      `0x${tag.toString(16).padStart(4, "0")} is not a ${kind} ticket tag`,
    );
  }
  const hierarchy = r.u32(`${field}.hierarchy`);
  if (!HIERARCHIES.includes(hierarchy)) {
    throw new TpmFormatError(
      `${field}.hierarchy`,
      `0x${hierarchy.toString(16).padStart(8, "0")} is not a hierarchy`,
    );
  }
  return { tag, hierarchy, digest: readTpm2b(r, "DIGEST", `${field}.digest`) };
}

export function writeTicket(w: TpmWriter, t: TpmtTicket, field = "TPMT_TK"): void {
  w.u16(t.tag).u32(t.hierarchy);
  writeTpm2b(w, "DIGEST", t.digest, `${field}.digest`);
}

/** The NULL TPMT_TK_HASHCHECK that TPM2_Sign accepts for an unrestricted key. */
export const NULL_HASHCHECK_TICKET: TpmtTicket = Object.freeze({
  tag: TPM_ST.HASHCHECK,
  hierarchy: TPM_RH.NULL,
  digest: Buffer.alloc(0),
});

/** TPMS_CREATION_DATA (Part 2, 15.1): what TPM2_Create/CreatePrimary say about a new object's birth. */
export interface TpmsCreationData {
  readonly pcrSelect: readonly PcrSelection[];
  readonly pcrDigest: Buffer;
  /** TPMA_LOCALITY, as the raw octet. */
  readonly locality: number;
  readonly parentNameAlg: TpmHashAlg | typeof TPM_ALG.NULL;
  readonly parentName: Buffer;
  readonly parentQualifiedName: Buffer;
  readonly outsideInfo: Buffer;
}

export function readCreationData(r: TpmReader, field = "TPMS_CREATION_DATA"): TpmsCreationData {
  return {
    pcrSelect: readPcrSelectionList(r, `${field}.pcrSelect`),
    pcrDigest: readTpm2b(r, "DIGEST", `${field}.pcrDigest`),
    locality: r.u8(`${field}.locality`),
    // For a primary object the parent is a hierarchy, whose "name alg" is TPM_ALG_NULL.
    parentNameAlg: readHashAlg(r, `${field}.parentNameAlg`, { allowNull: true }),
    parentName: readName(r, `${field}.parentName`),
    parentQualifiedName: readName(r, `${field}.parentQualifiedName`),
    outsideInfo: readTpm2b(r, "DATA", `${field}.outsideInfo`),
  };
}

export function writeCreationData(w: TpmWriter, c: TpmsCreationData): void {
  writePcrSelectionList(w, c.pcrSelect);
  writeTpm2b(w, "DIGEST", c.pcrDigest);
  w.u8(c.locality).u16(c.parentNameAlg);
  writeName(w, c.parentName);
  writeName(w, c.parentQualifiedName);
  writeTpm2b(w, "DATA", c.outsideInfo);
}

/** TPM2B_CREATION_DATA. */
export function readTpm2bCreationData(r: TpmReader, field = "TPM2B_CREATION_DATA"): TpmsCreationData {
  return r.sizedStruct(field, (inner) =>
    readCreationData(inner, `${field}.creationData`),
  ) as TpmsCreationData;
}

export function unmarshalCreationData(buf: Uint8Array): TpmsCreationData {
  return unmarshalExact(buf, "TPMS_CREATION_DATA", (r) => readCreationData(r));
}

import type { TpmWriter } from "../marshal.js";
import { TpmFormatError, TpmReader } from "../marshal.js";
import { TPM_GENERATED_VALUE, TPM_ST } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import { readHashAlg } from "./alg.js";
import { readName, readTpm2b, writeName, writeTpm2b } from "./buffers.js";
import { readPcrSelectionList, writePcrSelectionList } from "./pcr.js";
import type { PcrSelection } from "./pcr.js";
import { marshalWith, unmarshalExact } from "./codec.js";

/** TPMS_CLOCK_INFO (Part 2, 10.11.1). */
export interface TpmsClockInfo {
  readonly clock: bigint;
  readonly resetCount: number;
  readonly restartCount: number;
  readonly safe: boolean;
}

/** TPMU_ATTEST, tagged by the TPMS_ATTEST `type` it belongs to. */
export type TpmuAttest =
  | { readonly type: "certify"; readonly name: Buffer; readonly qualifiedName: Buffer }
  | { readonly type: "creation"; readonly objectName: Buffer; readonly creationHash: Buffer }
  | { readonly type: "quote"; readonly pcrSelect: readonly PcrSelection[]; readonly pcrDigest: Buffer }
  | {
      readonly type: "commandAudit";
      readonly auditCounter: bigint;
      readonly digestAlg: TpmHashAlg;
      readonly auditDigest: Buffer;
      readonly commandDigest: Buffer;
    }
  | { readonly type: "sessionAudit"; readonly exclusiveSession: boolean; readonly sessionDigest: Buffer }
  | {
      readonly type: "time";
      readonly time: bigint;
      readonly clockInfo: TpmsClockInfo;
      readonly firmwareVersion: bigint;
    }
  | { readonly type: "nv"; readonly indexName: Buffer; readonly offset: number; readonly nvContents: Buffer }
  | { readonly type: "nvDigest"; readonly indexName: Buffer; readonly nvDigest: Buffer };

export type AttestType = TpmuAttest["type"];

/** TPMS_ATTEST (Part 2, 10.12.12): what TPM2_Quote, TPM2_Certify & co. sign. */
export interface TpmsAttest {
  /** Always TPM_GENERATED_VALUE: parsing refuses anything else, since only the TPM makes that prefix. */
  readonly magic: typeof TPM_GENERATED_VALUE;
  readonly qualifiedSigner: Buffer;
  readonly extraData: Buffer;
  readonly clockInfo: TpmsClockInfo;
  readonly firmwareVersion: bigint;
  readonly attested: TpmuAttest;
}

const ST_BY_TYPE = {
  certify: TPM_ST.ATTEST_CERTIFY,
  creation: TPM_ST.ATTEST_CREATION,
  quote: TPM_ST.ATTEST_QUOTE,
  commandAudit: TPM_ST.ATTEST_COMMAND_AUDIT,
  sessionAudit: TPM_ST.ATTEST_SESSION_AUDIT,
  time: TPM_ST.ATTEST_TIME,
  nv: TPM_ST.ATTEST_NV,
  nvDigest: TPM_ST.ATTEST_NV_DIGEST,
} as const satisfies Record<AttestType, number>;

/** The TPM_ST_ATTEST_* tag of an attestation type. */
export function attestTag(type: AttestType): number {
  return ST_BY_TYPE[type];
}

export function readClockInfo(r: TpmReader, field = "TPMS_CLOCK_INFO"): TpmsClockInfo {
  return {
    clock: r.u64(`${field}.clock`),
    resetCount: r.u32(`${field}.resetCount`),
    restartCount: r.u32(`${field}.restartCount`),
    safe: r.bool(`${field}.safe`),
  };
}

export function writeClockInfo(w: TpmWriter, c: TpmsClockInfo): void {
  w.u64(c.clock).u32(c.resetCount).u32(c.restartCount).bool(c.safe);
}

function readAttested(r: TpmReader, tag: number, f: string): TpmuAttest {
  switch (tag) {
    case TPM_ST.ATTEST_CERTIFY:
      return {
        type: "certify",
        name: readName(r, `${f}.name`),
        qualifiedName: readName(r, `${f}.qualifiedName`),
      };
    case TPM_ST.ATTEST_CREATION:
      return {
        type: "creation",
        objectName: readName(r, `${f}.objectName`),
        creationHash: readTpm2b(r, "DIGEST", `${f}.creationHash`),
      };
    case TPM_ST.ATTEST_QUOTE:
      return {
        type: "quote",
        pcrSelect: readPcrSelectionList(r, `${f}.pcrSelect`),
        pcrDigest: readTpm2b(r, "DIGEST", `${f}.pcrDigest`),
      };
    case TPM_ST.ATTEST_COMMAND_AUDIT:
      return {
        type: "commandAudit",
        auditCounter: r.u64(`${f}.auditCounter`),
        digestAlg: readHashAlg(r, `${f}.digestAlg`),
        auditDigest: readTpm2b(r, "DIGEST", `${f}.auditDigest`),
        commandDigest: readTpm2b(r, "DIGEST", `${f}.commandDigest`),
      };
    case TPM_ST.ATTEST_SESSION_AUDIT:
      return {
        type: "sessionAudit",
        exclusiveSession: r.bool(`${f}.exclusiveSession`),
        sessionDigest: readTpm2b(r, "DIGEST", `${f}.sessionDigest`),
      };
    case TPM_ST.ATTEST_TIME:
      return {
        type: "time",
        time: r.u64(`${f}.time.time`),
        clockInfo: readClockInfo(r, `${f}.time.clockInfo`),
        firmwareVersion: r.u64(`${f}.firmwareVersion`),
      };
    case TPM_ST.ATTEST_NV:
      return {
        type: "nv",
        indexName: readName(r, `${f}.indexName`),
        offset: r.u16(`${f}.offset`),
        nvContents: readTpm2b(r, "MAX_NV_BUFFER", `${f}.nvContents`),
      };
    case TPM_ST.ATTEST_NV_DIGEST:
      return {
        type: "nvDigest",
        indexName: readName(r, `${f}.indexName`),
        nvDigest: readTpm2b(r, "DIGEST", `${f}.nvDigest`),
      };
    default:
      throw new TpmFormatError(
        "TPMS_ATTEST.type",
        `0x${tag.toString(16).padStart(4, "0")} is not a TPM_ST_ATTEST_* tag`,
      );
  }
}

function writeAttested(w: TpmWriter, a: TpmuAttest): void {
  switch (a.type) {
    case "certify":
      writeName(w, a.name);
      writeName(w, a.qualifiedName);
      return;
    case "creation":
      writeName(w, a.objectName);
      writeTpm2b(w, "DIGEST", a.creationHash);
      return;
    case "quote":
      writePcrSelectionList(w, a.pcrSelect);
      writeTpm2b(w, "DIGEST", a.pcrDigest);
      return;
    case "commandAudit":
      w.u64(a.auditCounter).u16(a.digestAlg);
      writeTpm2b(w, "DIGEST", a.auditDigest);
      writeTpm2b(w, "DIGEST", a.commandDigest);
      return;
    case "sessionAudit":
      w.bool(a.exclusiveSession);
      writeTpm2b(w, "DIGEST", a.sessionDigest);
      return;
    case "time":
      w.u64(a.time);
      writeClockInfo(w, a.clockInfo);
      w.u64(a.firmwareVersion);
      return;
    case "nv":
      writeName(w, a.indexName);
      w.u16(a.offset);
      writeTpm2b(w, "MAX_NV_BUFFER", a.nvContents);
      return;
    case "nvDigest":
      writeName(w, a.indexName);
      writeTpm2b(w, "DIGEST", a.nvDigest);
      return;
  }
}

export function readTpmsAttest(r: TpmReader, field = "TPMS_ATTEST"): TpmsAttest {
  const magic = r.u32(`${field}.magic`);
  if (magic !== TPM_GENERATED_VALUE) {
    throw new TpmFormatError(
      `${field}.magic`,
      `0x${magic.toString(16).padStart(8, "0")} is not TPM_GENERATED_VALUE`,
    );
  }
  const tag = r.u16(`${field}.type`);
  const qualifiedSigner = readName(r, `${field}.qualifiedSigner`);
  const extraData = readTpm2b(r, "DATA", `${field}.extraData`);
  const clockInfo = readClockInfo(r, `${field}.clockInfo`);
  const firmwareVersion = r.u64(`${field}.firmwareVersion`);
  const attested = readAttested(r, tag, `${field}.attested`);
  return { magic: TPM_GENERATED_VALUE, qualifiedSigner, extraData, clockInfo, firmwareVersion, attested };
}

export function writeTpmsAttest(w: TpmWriter, a: TpmsAttest): void {
  w.u32(TPM_GENERATED_VALUE).u16(ST_BY_TYPE[a.attested.type]);
  writeName(w, a.qualifiedSigner, "TPMS_ATTEST.qualifiedSigner");
  writeTpm2b(w, "DATA", a.extraData, "TPMS_ATTEST.extraData");
  writeClockInfo(w, a.clockInfo);
  w.u64(a.firmwareVersion);
  writeAttested(w, a.attested);
}

/**
 * Parses TPMS_ATTEST bytes exactly as signed (the contents of a TPM2B_ATTEST, or what
 * `tpm2_quote -m` writes). Verify the signature over these same bytes, not a re-marshalling.
 */
export function unmarshalTpmsAttest(buf: Uint8Array): TpmsAttest {
  return unmarshalExact(buf, "TPMS_ATTEST", (r) => readTpmsAttest(r));
}

export function marshalTpmsAttest(a: TpmsAttest): Buffer {
  return marshalWith(a, (w, v) => writeTpmsAttest(w, v));
}

/**
 * TPM2B_ATTEST from a command response: the parsed structure and the exact bytes the signature
 * covers.
 */
export function readTpm2bAttest(r: TpmReader, field = "TPM2B_ATTEST"): { attest: TpmsAttest; bytes: Buffer } {
  const bytes = r.sized(field);
  if (bytes.length === 0) throw new TpmFormatError(field, "is empty");
  const inner = new TpmReader(bytes);
  const attest = readTpmsAttest(inner, `${field}.attestationData`);
  inner.expectEnd(field);
  return { attest, bytes };
}

export function writeTpm2bAttest(w: TpmWriter, attestBytes: Uint8Array): void {
  w.sized(attestBytes);
}

import type { TpmReader, TpmWriter } from "../marshal.js";
import { TpmFormatError } from "../marshal.js";
import { TPM_CAP } from "../constants.js";
import {
  PCR_SELECT_MAX,
  pcrBitmap,
  pcrIndexesFromBitmap,
  readPcrSelectionList,
  readTpmtHa,
  writePcrSelectionList,
  writeTpmtHa,
} from "./pcr.js";
import type { PcrSelection, TpmtHa } from "./pcr.js";
import { marshalWith, unmarshalExact } from "./codec.js";

/**
 * MAX_CAP_BUFFER is implementation-defined (TPM_PT_MAX_CAP_BUFFER; 1024 on most TPMs). The list
 * bounds below are for a 4096-byte buffer so that no real TPM's answer is refused.
 */
const MAX_CAP_DATA = 4096 - 4 - 4;
const MAX_CAP_ALGS = Math.floor(MAX_CAP_DATA / 6);
const MAX_CAP_HANDLES = Math.floor(MAX_CAP_DATA / 4);
const MAX_CAP_CC = Math.floor(MAX_CAP_DATA / 4);
const MAX_TPM_PROPERTIES = Math.floor(MAX_CAP_DATA / 8);
const MAX_PCR_PROPERTIES = Math.floor(MAX_CAP_DATA / 5);
const MAX_ECC_CURVES = Math.floor(MAX_CAP_DATA / 2);
const MAX_TAGGED_POLICIES = Math.floor(MAX_CAP_DATA / 6);
const MAX_ACT_DATA = Math.floor(MAX_CAP_DATA / 12);

/** TPMS_ALG_PROPERTY: an algorithm and its TPMA_ALGORITHM bits (raw). */
export interface AlgProperty {
  readonly alg: number;
  readonly algProperties: number;
}

/** TPMS_TAGGED_PROPERTY: a TPM_PT and its value. */
export interface TaggedProperty {
  readonly property: number;
  readonly value: number;
}

/** TPMS_TAGGED_PCR_SELECT: a TPM_PT_PCR property and the PCRs that have it. */
export interface TaggedPcrSelect {
  readonly tag: number;
  readonly pcrs: readonly number[];
  readonly sizeofSelect: number;
}

/** TPMS_TAGGED_POLICY. */
export interface TaggedPolicy {
  readonly handle: number;
  readonly policyHash: TpmtHa;
}

/** TPMS_ACT_DATA. */
export interface ActData {
  readonly handle: number;
  readonly timeout: number;
  readonly attributes: number;
}

/** TPMS_CAPABILITY_DATA (Part 2, 10.10.2), tagged by the capability it answers. */
export type TpmsCapabilityData =
  | { readonly capability: "algs"; readonly algorithms: readonly AlgProperty[] }
  | { readonly capability: "handles"; readonly handles: readonly number[] }
  /** TPMA_CC values, raw: the command index is the low 16 bits. */
  | { readonly capability: "commands"; readonly commands: readonly number[] }
  | { readonly capability: "ppCommands" | "auditCommands"; readonly commandCodes: readonly number[] }
  | { readonly capability: "pcrs"; readonly assignedPcr: readonly PcrSelection[] }
  | { readonly capability: "tpmProperties"; readonly properties: readonly TaggedProperty[] }
  | { readonly capability: "pcrProperties"; readonly pcrProperties: readonly TaggedPcrSelect[] }
  | { readonly capability: "eccCurves"; readonly eccCurves: readonly number[] }
  | { readonly capability: "authPolicies"; readonly authPolicies: readonly TaggedPolicy[] }
  | { readonly capability: "act"; readonly actData: readonly ActData[] };

export type CapabilityKind = TpmsCapabilityData["capability"];

const CAP_IDS = {
  algs: TPM_CAP.ALGS,
  handles: TPM_CAP.HANDLES,
  commands: TPM_CAP.COMMANDS,
  ppCommands: TPM_CAP.PP_COMMANDS,
  auditCommands: TPM_CAP.AUDIT_COMMANDS,
  pcrs: TPM_CAP.PCRS,
  tpmProperties: TPM_CAP.TPM_PROPERTIES,
  pcrProperties: TPM_CAP.PCR_PROPERTIES,
  eccCurves: TPM_CAP.ECC_CURVES,
  authPolicies: TPM_CAP.AUTH_POLICIES,
  act: TPM_CAP.ACT,
} as const satisfies Record<CapabilityKind, number>;

export function readCapabilityData(r: TpmReader, field = "TPMS_CAPABILITY_DATA"): TpmsCapabilityData {
  const cap = r.u32(`${field}.capability`);
  const d = `${field}.data`;
  switch (cap) {
    case TPM_CAP.ALGS:
      return {
        capability: "algs",
        algorithms: r.list(`${d}.algorithms`, MAX_CAP_ALGS, (rr, i) => ({
          alg: rr.u16(`${d}.algorithms[${i}].alg`),
          algProperties: rr.u32(`${d}.algorithms[${i}].algProperties`),
        })),
      };
    case TPM_CAP.HANDLES:
      return {
        capability: "handles",
        handles: r.list(`${d}.handles`, MAX_CAP_HANDLES, (rr, i) => rr.u32(`${d}.handles[${i}]`)),
      };
    case TPM_CAP.COMMANDS:
      return {
        capability: "commands",
        commands: r.list(`${d}.command`, MAX_CAP_CC, (rr, i) => rr.u32(`${d}.command[${i}]`)),
      };
    case TPM_CAP.PP_COMMANDS:
    case TPM_CAP.AUDIT_COMMANDS:
      return {
        capability: cap === TPM_CAP.PP_COMMANDS ? "ppCommands" : "auditCommands",
        commandCodes: r.list(`${d}.ppCommands`, MAX_CAP_CC, (rr, i) => rr.u32(`${d}.commandCodes[${i}]`)),
      };
    case TPM_CAP.PCRS:
      return { capability: "pcrs", assignedPcr: readPcrSelectionList(r, `${d}.assignedPCR`) };
    case TPM_CAP.TPM_PROPERTIES:
      return {
        capability: "tpmProperties",
        properties: r.list(`${d}.tpmProperties`, MAX_TPM_PROPERTIES, (rr, i) => ({
          property: rr.u32(`${d}.tpmProperties[${i}].property`),
          value: rr.u32(`${d}.tpmProperties[${i}].value`),
        })),
      };
    case TPM_CAP.PCR_PROPERTIES:
      return {
        capability: "pcrProperties",
        pcrProperties: r.list(`${d}.pcrProperties`, MAX_PCR_PROPERTIES, (rr, i) => {
          const f = `${d}.pcrProperties[${i}]`;
          const tag = rr.u32(`${f}.tag`);
          const sizeofSelect = rr.u8(`${f}.sizeofSelect`);
          if (sizeofSelect > PCR_SELECT_MAX) {
            throw new TpmFormatError(
              `${f}.sizeofSelect`,
              `${sizeofSelect} exceeds PCR_SELECT_MAX ${PCR_SELECT_MAX}`,
            );
          }
          return { tag, sizeofSelect, pcrs: pcrIndexesFromBitmap(rr.bytes(`${f}.pcrSelect`, sizeofSelect)) };
        }),
      };
    case TPM_CAP.ECC_CURVES:
      return {
        capability: "eccCurves",
        eccCurves: r.list(`${d}.eccCurves`, MAX_ECC_CURVES, (rr, i) => rr.u16(`${d}.eccCurves[${i}]`)),
      };
    case TPM_CAP.AUTH_POLICIES:
      return {
        capability: "authPolicies",
        authPolicies: r.list(`${d}.authPolicies`, MAX_TAGGED_POLICIES, (rr, i) => ({
          handle: rr.u32(`${d}.authPolicies[${i}].handle`),
          policyHash: readTpmtHa(rr, `${d}.authPolicies[${i}].policyHash`),
        })),
      };
    case TPM_CAP.ACT:
      return {
        capability: "act",
        actData: r.list(`${d}.actData`, MAX_ACT_DATA, (rr, i) => ({
          handle: rr.u32(`${d}.actData[${i}].handle`),
          timeout: rr.u32(`${d}.actData[${i}].timeout`),
          attributes: rr.u32(`${d}.actData[${i}].attributes`),
        })),
      };
    default:
      throw new TpmFormatError(
        `${field}.capability`,
        `0x${cap.toString(16).padStart(8, "0")} is not a capability`,
      );
  }
}

export function writeCapabilityData(w: TpmWriter, c: TpmsCapabilityData): void {
  w.u32(CAP_IDS[c.capability]);
  switch (c.capability) {
    case "algs":
      w.u32(c.algorithms.length);
      for (const a of c.algorithms) w.u16(a.alg).u32(a.algProperties);
      return;
    case "handles":
      w.u32(c.handles.length);
      for (const h of c.handles) w.u32(h);
      return;
    case "commands":
      w.u32(c.commands.length);
      for (const cc of c.commands) w.u32(cc);
      return;
    case "ppCommands":
    case "auditCommands":
      w.u32(c.commandCodes.length);
      for (const cc of c.commandCodes) w.u32(cc);
      return;
    case "pcrs":
      writePcrSelectionList(w, c.assignedPcr);
      return;
    case "tpmProperties":
      w.u32(c.properties.length);
      for (const p of c.properties) w.u32(p.property).u32(p.value);
      return;
    case "pcrProperties":
      w.u32(c.pcrProperties.length);
      for (const p of c.pcrProperties) {
        const bitmap = pcrBitmap(p.pcrs, p.sizeofSelect);
        w.u32(p.tag).u8(bitmap.length).bytes(bitmap);
      }
      return;
    case "eccCurves":
      w.u32(c.eccCurves.length);
      for (const curve of c.eccCurves) w.u16(curve);
      return;
    case "authPolicies":
      w.u32(c.authPolicies.length);
      for (const p of c.authPolicies) {
        w.u32(p.handle);
        writeTpmtHa(w, p.policyHash);
      }
      return;
    case "act":
      w.u32(c.actData.length);
      for (const a of c.actData) w.u32(a.handle).u32(a.timeout).u32(a.attributes);
      return;
  }
}

export function unmarshalCapabilityData(buf: Uint8Array): TpmsCapabilityData {
  return unmarshalExact(buf, "TPMS_CAPABILITY_DATA", (r) => readCapabilityData(r));
}

export function marshalCapabilityData(c: TpmsCapabilityData): Buffer {
  return marshalWith(c, (w, v) => writeCapabilityData(w, v));
}

/** TPM2_GetCapability's response parameters: moreData (TPMI_YES_NO) then the capability data. */
export function readGetCapabilityParameters(r: TpmReader): {
  moreData: boolean;
  capabilityData: TpmsCapabilityData;
} {
  const moreData = r.bool("TPM2_GetCapability.moreData");
  const capabilityData = readCapabilityData(r, "TPM2_GetCapability.capabilityData");
  return { moreData, capabilityData };
}

/**
 * A TPM_PT_VENDOR_STRING_* / TPM_PT_MANUFACTURER value as text: four big-endian ASCII octets,
 * trailing NULs and spaces dropped (e.g. 0x49424d00 → "IBM").
 */
export function propertyString(value: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b.toString("latin1").replace(/[\0 ]+$/, "");
}

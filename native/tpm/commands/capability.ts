import { TPM_CAP, TPM_CC, TPM_PT, type TpmHashAlg } from "../constants.js";
import { TpmResponseError } from "./errors.js";
import { TpmWriter } from "../marshal.js";
import {
  propertyString,
  readGetCapabilityParameters,
  type TaggedProperty,
  type TpmsCapabilityData,
} from "../structures/capability.js";
import { readParameters, type Tpm } from "../tpm.js";

/** One TPM2_GetCapability call: the data and whether the TPM has more past it. */
export async function getCapability(
  tpm: Tpm,
  capability: number,
  property: number,
  propertyCount: number,
): Promise<{ moreData: boolean; capabilityData: TpmsCapabilityData }> {
  const { parameters } = await tpm.execute({
    code: TPM_CC.GetCapability,
    parameters: new TpmWriter().u32(capability).u32(property).u32(propertyCount).toBuffer(),
  });
  return readParameters(parameters, "TPM2_GetCapability", readGetCapabilityParameters);
}

function unexpected(what: string, got: string): TpmResponseError {
  return new TpmResponseError("TPM_UNEXPECTED_CAPABILITY", `TPM2_GetCapability(${what}) answered ${got}`);
}

/**
 * Every handle the TPM lists for the handle type of `first` (its top octet), from `first` on,
 * following moreData. Loaded sessions (type 0x02) come back with their own handles, so a policy
 * session shows up as 0x03xxxxxx under a 0x02 query: the type is the query's, not the answer's.
 */
export async function getHandles(tpm: Tpm, first: number): Promise<number[]> {
  const type = (first & 0xff000000) >>> 0;
  const out: number[] = [];
  let next = first;
  for (;;) {
    const { moreData, capabilityData } = await getCapability(tpm, TPM_CAP.HANDLES, next, 254);
    if (capabilityData.capability !== "handles") throw unexpected("HANDLES", capabilityData.capability);
    out.push(...capabilityData.handles);
    const lastSeen = capabilityData.handles.at(-1);
    if (!moreData || lastSeen === undefined) return out;
    next = (type | ((lastSeen & 0x00ffffff) + 1)) >>> 0;
  }
}

/** TPM_CAP_TPM_PROPERTIES from `first` for `count` tags, following moreData. */
export async function getTpmProperties(tpm: Tpm, first: number, count: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  let next = first;
  const end = first + count;
  while (next < end) {
    const { moreData, capabilityData } = await getCapability(tpm, TPM_CAP.TPM_PROPERTIES, next, end - next);
    if (capabilityData.capability !== "tpmProperties")
      throw unexpected("TPM_PROPERTIES", capabilityData.capability);
    const props: readonly TaggedProperty[] = capabilityData.properties;
    for (const p of props) if (p.property < end) out.set(p.property, p.value);
    const lastSeen = props.at(-1);
    if (!moreData || lastSeen === undefined) break;
    next = lastSeen.property + 1;
  }
  return out;
}

/** The PCR banks the TPM has, with the PCRs allocated (active) in each. */
export async function getPcrBanks(tpm: Tpm): Promise<{ hashAlg: TpmHashAlg; pcrs: readonly number[] }[]> {
  const { capabilityData } = await getCapability(tpm, TPM_CAP.PCRS, 0, 1);
  if (capabilityData.capability !== "pcrs") throw unexpected("PCRS", capabilityData.capability);
  return capabilityData.assignedPcr.map((s) => ({ hashAlg: s.hashAlg, pcrs: s.pcrs }));
}

/** What identifies a TPM model and its firmware (TPM_PT_* fixed properties). */
export interface TpmInfo {
  /** TPM_PT_MANUFACTURER as its four-letter vendor ID ("IBM", "IFX", "STM", "NTC", "INTC"). */
  readonly manufacturer: string;
  readonly manufacturerId: number;
  /** TPM_PT_VENDOR_STRING_1..4 joined. */
  readonly vendorString: string;
  /** FIRMWARE_VERSION_1 and _2, as the 64-bit value TPMS_ATTEST.firmwareVersion carries. */
  readonly firmwareVersion: bigint;
  /** "major.minor.build.patch" from the two 32-bit halves, each split in 16-bit parts. */
  readonly firmwareVersionText: string;
  /** TPM_PT_FAMILY_INDICATOR ("2.0"). */
  readonly family: string;
  /** TPM_PT_REVISION / 100, e.g. 1.64. */
  readonly specRevision: number;
  /** TPM_PT_NV_BUFFER_MAX: the largest NV_Read chunk. */
  readonly nvBufferMax: number;
  readonly maxDigest: number;
}

export async function getTpmInfo(tpm: Tpm): Promise<TpmInfo> {
  const props = await getTpmProperties(
    tpm,
    TPM_PT.FAMILY_INDICATOR,
    TPM_PT.MAX_CAP_BUFFER - TPM_PT.FAMILY_INDICATOR + 1,
  );
  const get = (pt: number): number => props.get(pt) ?? 0;
  const fw1 = get(TPM_PT.FIRMWARE_VERSION_1);
  const fw2 = get(TPM_PT.FIRMWARE_VERSION_2);
  return {
    manufacturer: propertyString(get(TPM_PT.MANUFACTURER)),
    manufacturerId: get(TPM_PT.MANUFACTURER),
    vendorString: [
      TPM_PT.VENDOR_STRING_1,
      TPM_PT.VENDOR_STRING_2,
      TPM_PT.VENDOR_STRING_3,
      TPM_PT.VENDOR_STRING_4,
    ]
      .map((pt) => propertyString(get(pt)))
      .join(""),
    firmwareVersion: (BigInt(fw1) << 32n) | BigInt(fw2),
    firmwareVersionText: [fw1 >>> 16, fw1 & 0xffff, fw2 >>> 16, fw2 & 0xffff].join("."),
    family: propertyString(get(TPM_PT.FAMILY_INDICATOR)),
    specRevision: get(TPM_PT.REVISION) / 100,
    nvBufferMax: get(TPM_PT.NV_BUFFER_MAX),
    maxDigest: get(TPM_PT.MAX_DIGEST),
  };
}

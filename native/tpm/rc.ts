import { HallmarkError } from "../../common/errors.js";
import type { ErrorCategory } from "../../common/errors.js";
import { commandName } from "./constants.js";

/**
 * TPM_RC response codes (Part 2, 6.6). A response code is either format-zero (bit 7 clear: an
 * error or, with bit 11, a warning, numbered in the low 7 bits) or format-one (bit 7 set: an error
 * numbered in the low 6 bits that names the handle, session or parameter it is about).
 */

const RC_VER1 = 0x100;
const RC_FMT1 = 0x080;
const RC_WARN = 0x900;

const FORMAT0_ERRORS = {
  INITIALIZE: 0x000,
  FAILURE: 0x001,
  SEQUENCE: 0x003,
  PRIVATE: 0x00b,
  HMAC: 0x019,
  DISABLED: 0x020,
  EXCLUSIVE: 0x021,
  AUTH_TYPE: 0x024,
  AUTH_MISSING: 0x025,
  POLICY: 0x026,
  PCR: 0x027,
  PCR_CHANGED: 0x028,
  UPGRADE: 0x02d,
  TOO_MANY_CONTEXTS: 0x02e,
  AUTH_UNAVAILABLE: 0x02f,
  REBOOT: 0x030,
  UNBALANCED: 0x031,
  COMMAND_SIZE: 0x042,
  COMMAND_CODE: 0x043,
  AUTHSIZE: 0x044,
  AUTH_CONTEXT: 0x045,
  NV_RANGE: 0x046,
  NV_SIZE: 0x047,
  NV_LOCKED: 0x048,
  NV_AUTHORIZATION: 0x049,
  NV_UNINITIALIZED: 0x04a,
  NV_SPACE: 0x04b,
  NV_DEFINED: 0x04c,
  BAD_CONTEXT: 0x050,
  CPHASH: 0x051,
  PARENT: 0x052,
  NEEDS_TEST: 0x053,
  NO_RESULT: 0x054,
  SENSITIVE: 0x055,
  READ_ONLY: 0x056,
} as const;

const FORMAT1_ERRORS = {
  ASYMMETRIC: 0x001,
  ATTRIBUTES: 0x002,
  HASH: 0x003,
  VALUE: 0x004,
  HIERARCHY: 0x005,
  KEY_SIZE: 0x007,
  MGF: 0x008,
  MODE: 0x009,
  TYPE: 0x00a,
  HANDLE: 0x00b,
  KDF: 0x00c,
  RANGE: 0x00d,
  AUTH_FAIL: 0x00e,
  NONCE: 0x00f,
  PP: 0x010,
  SCHEME: 0x012,
  SIZE: 0x015,
  SYMMETRIC: 0x016,
  TAG: 0x017,
  SELECTOR: 0x018,
  INSUFFICIENT: 0x01a,
  SIGNATURE: 0x01b,
  KEY: 0x01c,
  POLICY_FAIL: 0x01d,
  INTEGRITY: 0x01f,
  TICKET: 0x020,
  RESERVED_BITS: 0x021,
  BAD_AUTH: 0x022,
  EXPIRED: 0x023,
  POLICY_CC: 0x024,
  BINDING: 0x025,
  CURVE: 0x026,
  ECC_POINT: 0x027,
  FW_LIMITED: 0x028,
  SVN_LIMITED: 0x029,
  PARMS: 0x02a,
  EXT_MU: 0x02b,
  ONE_SHOT_SIGNATURE: 0x02c,
  SIGN_CONTEXT_KEY: 0x02d,
  CHANNEL: 0x030,
  CHANNEL_KEY: 0x031,
} as const;

const WARNINGS = {
  CONTEXT_GAP: 0x001,
  OBJECT_MEMORY: 0x002,
  SESSION_MEMORY: 0x003,
  MEMORY: 0x004,
  SESSION_HANDLES: 0x005,
  OBJECT_HANDLES: 0x006,
  LOCALITY: 0x007,
  YIELDED: 0x008,
  CANCELED: 0x009,
  TESTING: 0x00a,
  REFERENCE_H0: 0x010,
  REFERENCE_H1: 0x011,
  REFERENCE_H2: 0x012,
  REFERENCE_H3: 0x013,
  REFERENCE_H4: 0x014,
  REFERENCE_H5: 0x015,
  REFERENCE_H6: 0x016,
  REFERENCE_S0: 0x018,
  REFERENCE_S1: 0x019,
  REFERENCE_S2: 0x01a,
  REFERENCE_S3: 0x01b,
  REFERENCE_S4: 0x01c,
  REFERENCE_S5: 0x01d,
  REFERENCE_S6: 0x01e,
  NV_RATE: 0x020,
  LOCKOUT: 0x021,
  RETRY: 0x022,
  NV_UNAVAILABLE: 0x023,
  NOT_USED: 0x07f,
} as const;

function offsetTable<T extends Record<string, number>>(
  table: T,
  offset: number,
): { readonly [K in keyof T]: number } {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [k, v + offset])) as {
    [K in keyof T]: number;
  };
}

/**
 * Base response codes by name, without handle/session/parameter position bits: compare with
 * `TpmError.baseRc` (e.g. `err.baseRc === TPM_RC.HANDLE`).
 */
export const TPM_RC = Object.freeze({
  SUCCESS: 0x000,
  /** TPM 1.2 "bad tag": what a TPM 2.0 answers to a command it cannot even frame. */
  BAD_TAG: 0x01e,
  ...offsetTable(FORMAT0_ERRORS, RC_VER1),
  ...offsetTable(FORMAT1_ERRORS, RC_FMT1),
  ...offsetTable(WARNINGS, RC_WARN),
});
export type TpmRcName = keyof typeof TPM_RC;

const FORMAT0_NAMES = invert(FORMAT0_ERRORS);
const FORMAT1_NAMES = invert(FORMAT1_ERRORS);
const WARNING_NAMES = invert(WARNINGS);

function invert(table: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(table).map(([k, v]) => [v, `TPM_RC_${k}`]));
}

export type RcFormat = "success" | "format0" | "format1" | "vendor" | "tpm12";

/** A response code taken apart. Positions are 1-based, as the spec numbers them. */
export interface DecodedRc {
  readonly rc: number;
  readonly format: RcFormat;
  /** "TPM_RC_VALUE"; "TPM_RC_0x..." when the number is not in the spec's tables. */
  readonly name: string;
  /** The code without position bits: equal to a TPM_RC value for known codes. */
  readonly baseRc: number;
  readonly warning: boolean;
  readonly handle?: number;
  readonly session?: number;
  readonly parameter?: number;
}

function hex(rc: number): string {
  return `0x${rc.toString(16).padStart(3, "0")}`;
}

export function decodeRc(rcIn: number): DecodedRc {
  const rc = rcIn >>> 0;
  if (rc === 0) return { rc, format: "success", name: "TPM_RC_SUCCESS", baseRc: 0, warning: false };
  if (rc & RC_FMT1) {
    const error = rc & 0x3f;
    const baseRc = RC_FMT1 | error;
    const name = FORMAT1_NAMES.get(error) ?? `TPM_RC_${hex(baseRc)}`;
    const n = (rc >>> 8) & 0xf;
    const common = { rc, format: "format1" as const, name, baseRc, warning: false };
    // Position 0 means "unspecified" for parameters and sessions; handles are numbered from 1.
    if (rc & 0x040) return n === 0 ? common : { ...common, parameter: n };
    if (rc & 0x800) return (n & 0x7) === 0 ? common : { ...common, session: n & 0x7 };
    return n === 0 ? common : { ...common, handle: n };
  }
  if ((rc & RC_VER1) === 0) {
    return {
      rc,
      format: "tpm12",
      name: rc === TPM_RC.BAD_TAG ? "TPM_RC_BAD_TAG" : `TPM_RC_${hex(rc)}`,
      baseRc: rc,
      warning: false,
    };
  }
  if (rc & 0x400) {
    return {
      rc,
      format: "vendor",
      name: `TPM_RC_VENDOR_${hex(rc)}`,
      baseRc: rc,
      warning: (rc & 0x800) !== 0,
    };
  }
  const warning = (rc & 0x800) !== 0;
  const error = rc & 0x7f;
  const baseRc = rc & 0xfff;
  const name = (warning ? WARNING_NAMES : FORMAT0_NAMES).get(error) ?? `TPM_RC_${hex(baseRc)}`;
  return { rc, format: "format0", name, baseRc, warning };
}

export function rcName(rc: number): string {
  return decodeRc(rc).name;
}

/** True for TPM warnings (format-zero with the S bit): the command did not run and may be retried. */
export function isWarning(rc: number): boolean {
  return decodeRc(rc).warning;
}

/** Warnings that a caller should simply send again (after a short pause for NV_RATE / LOCKOUT not). */
export function isRetryable(rc: number): boolean {
  const base = decodeRc(rc).baseRc;
  return (
    base === TPM_RC.RETRY || base === TPM_RC.YIELDED || base === TPM_RC.TESTING || base === TPM_RC.NV_RATE
  );
}

/** "TPM_RC_VALUE (parameter 2)", "TPM_RC_BAD_AUTH (session 1)", "TPM_RC_OBJECT_MEMORY (warning)". */
export function describeRc(rc: number): string {
  const d = decodeRc(rc);
  const where =
    d.parameter !== undefined
      ? `parameter ${d.parameter}`
      : d.session !== undefined
        ? `session ${d.session}`
        : d.handle !== undefined
          ? `handle ${d.handle}`
          : d.warning
            ? "warning"
            : undefined;
  return where === undefined ? d.name : `${d.name} (${where})`;
}

function categoryOf(d: DecodedRc): ErrorCategory {
  switch (d.baseRc) {
    case TPM_RC.AUTH_FAIL:
    case TPM_RC.BAD_AUTH:
    case TPM_RC.POLICY_FAIL:
    case TPM_RC.AUTH_MISSING:
    case TPM_RC.NV_AUTHORIZATION:
      return "permission_denied";
    case TPM_RC.HANDLE:
      return "not_found";
    case TPM_RC.NV_DEFINED:
      return "already_exists";
    case TPM_RC.OBJECT_MEMORY:
    case TPM_RC.SESSION_MEMORY:
    case TPM_RC.MEMORY:
    case TPM_RC.OBJECT_HANDLES:
    case TPM_RC.SESSION_HANDLES:
    case TPM_RC.NV_SPACE:
      return "resource_exhausted";
    case TPM_RC.INITIALIZE:
    case TPM_RC.REBOOT:
    case TPM_RC.NV_LOCKED:
      return "failed_precondition";
  }
  return d.warning ? "unavailable" : "internal";
}

/** A TPM command that the TPM answered with a non-success response code. */
export class TpmError extends HallmarkError<"TPM_RC"> {
  readonly rc: number;
  readonly rcName: string;
  readonly baseRc: number;
  readonly commandCode: number | undefined;
  readonly handle: number | undefined;
  readonly session: number | undefined;
  readonly parameter: number | undefined;
  readonly isWarning: boolean;

  /** `command` is a TPM_CC (named as "TPM2_Quote") or a caller's name for what it ran. */
  constructor(command: number | string, rc: number) {
    const d = decodeRc(rc);
    const commandLabel = typeof command === "number" ? commandName(command) : command;
    super("TPM_RC", `${commandLabel} failed: ${describeRc(rc)}, rc ${hex(d.rc)}`, {
      category: categoryOf(d),
    });
    this.rc = d.rc;
    this.rcName = d.name;
    this.baseRc = d.baseRc;
    this.commandCode = typeof command === "number" ? command : undefined;
    this.handle = d.handle;
    this.session = d.session;
    this.parameter = d.parameter;
    this.isWarning = d.warning;
  }

  /** True if this is the base code `base` (a TPM_RC value), wherever it points. */
  is(base: number): boolean {
    return this.baseRc === base;
  }
}

export function isTpmError(err: unknown, base?: number): err is TpmError {
  return err instanceof TpmError && (base === undefined || err.baseRc === base);
}

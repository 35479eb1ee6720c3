import { createHash } from "node:crypto";
import type { TpmReader } from "../marshal.js";
import { TpmFormatError, TpmWriter } from "../marshal.js";
import { TPM_HT, TPM_RS_PW, describeAlg, handleType, nodeHashName } from "../constants.js";
import { readTpm2b, writeTpm2b } from "./buffers.js";
import { flagCodec } from "./flags.js";

// TPMA_SESSION (Part 2, 8.4)
const SESSION_ATTRIBUTE_BITS = {
  continueSession: 0,
  auditExclusive: 1,
  auditReset: 2,
  decrypt: 5,
  encrypt: 6,
  audit: 7,
} as const;

export type SessionAttributeName = keyof typeof SESSION_ATTRIBUTE_BITS;
export type SessionAttributes = Readonly<Record<SessionAttributeName, boolean>>;

const SESSION_ATTRIBUTES = flagCodec("TPMA_SESSION", SESSION_ATTRIBUTE_BITS);

export const sessionAttributes = SESSION_ATTRIBUTES.build;
export const sessionAttributesToU8 = SESSION_ATTRIBUTES.toInt;
export const sessionAttributesFromU8 = SESSION_ATTRIBUTES.fromInt;

/** TPMS_AUTH_COMMAND (Part 2, 10.13.2): one entry of a command's authorization area. */
export interface AuthCommand {
  readonly sessionHandle: number;
  readonly nonce: Buffer;
  readonly attributes: SessionAttributes;
  /** The HMAC, the password (TPM_RS_PW), or empty for a policy session without policyAuthValue/Password. */
  readonly hmac: Buffer;
}

/** TPMS_AUTH_RESPONSE (Part 2, 10.13.3). */
export interface AuthResponse {
  readonly nonce: Buffer;
  readonly attributes: SessionAttributes;
  readonly hmac: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * A password authorization (TPM_RS_PW) carrying `password` in the clear: what an object, NV index
 * or hierarchy with an empty (or known) authValue needs.
 */
export function passwordAuth(password: Uint8Array = EMPTY): AuthCommand {
  return {
    sessionHandle: TPM_RS_PW,
    nonce: EMPTY,
    attributes: sessionAttributes({ continueSession: true }),
    hmac: Buffer.from(password),
  };
}

/**
 * A policy-session authorization. The session must already satisfy the object's authPolicy;
 * `hmac` stays empty unless the policy used TPM2_PolicyPassword (then it is the authValue).
 */
export function policyAuth(
  sessionHandle: number,
  opts: { nonceCaller?: Uint8Array; continueSession?: boolean; hmac?: Uint8Array } = {},
): AuthCommand {
  return {
    sessionHandle,
    nonce: Buffer.from(opts.nonceCaller ?? EMPTY),
    attributes: sessionAttributes({ continueSession: opts.continueSession ?? false }),
    hmac: Buffer.from(opts.hmac ?? EMPTY),
  };
}

export function writeAuthCommand(w: TpmWriter, a: AuthCommand, field = "TPMS_AUTH_COMMAND"): void {
  w.u32(a.sessionHandle);
  writeTpm2b(w, "NONCE", a.nonce, `${field}.nonce`);
  w.u8(sessionAttributesToU8(a.attributes));
  writeTpm2b(w, "AUTH", a.hmac, `${field}.hmac`);
}

export function readAuthCommand(r: TpmReader, field = "TPMS_AUTH_COMMAND"): AuthCommand {
  return {
    sessionHandle: r.u32(`${field}.sessionHandle`),
    nonce: readTpm2b(r, "NONCE", `${field}.nonce`),
    attributes: sessionAttributesFromU8(r.u8(`${field}.sessionAttributes`), `${field}.sessionAttributes`),
    hmac: readTpm2b(r, "AUTH", `${field}.hmac`),
  };
}

export function writeAuthResponse(w: TpmWriter, a: AuthResponse): void {
  writeTpm2b(w, "NONCE", a.nonce);
  w.u8(sessionAttributesToU8(a.attributes));
  writeTpm2b(w, "AUTH", a.hmac);
}

export function readAuthResponse(r: TpmReader, field = "TPMS_AUTH_RESPONSE"): AuthResponse {
  return {
    nonce: readTpm2b(r, "NONCE", `${field}.nonce`),
    attributes: sessionAttributesFromU8(r.u8(`${field}.sessionAttributes`), `${field}.sessionAttributes`),
    hmac: readTpm2b(r, "AUTH", `${field}.hmac`),
  };
}

/** A command can carry at most three sessions (Part 1, 18.1). */
export const MAX_SESSIONS = 3;

/** The authorization area of a command: authorizationSize (UINT32) then the sessions. */
export function writeAuthArea(w: TpmWriter, sessions: readonly AuthCommand[]): void {
  if (sessions.length === 0 || sessions.length > MAX_SESSIONS) {
    throw new TpmFormatError(
      "authorizationArea",
      `a command carries 1 to ${MAX_SESSIONS} sessions, not ${sessions.length}`,
    );
  }
  const inner = new TpmWriter();
  sessions.forEach((s, i) => writeAuthCommand(inner, s, `authorizationArea[${i}]`));
  w.u32(inner.length).bytes(inner.toBuffer());
}

/** Every TPMS_AUTH_RESPONSE up to the reader's end (a response's session area has no count). */
export function readAuthResponses(r: TpmReader, field = "responseSessions"): AuthResponse[] {
  const out: AuthResponse[] = [];
  while (r.remaining > 0) {
    if (out.length === MAX_SESSIONS) throw new TpmFormatError(field, `more than ${MAX_SESSIONS} sessions`);
    out.push(readAuthResponse(r, `${field}[${out.length}]`));
  }
  return out;
}

function hasher(hashAlg: number): ReturnType<typeof createHash> {
  const name = nodeHashName(hashAlg);
  if (name === undefined)
    throw new TpmFormatError("hashAlg", `${describeAlg(hashAlg)} is not a supported hash`);
  return createHash(name);
}

/** cpHash (Part 1, 18.7): H(commandCode || Name(handle 1) || ... || parameters). */
export function cpHash(
  hashAlg: number,
  commandCode: number,
  names: readonly Uint8Array[],
  parameters: Uint8Array,
): Buffer {
  const h = hasher(hashAlg);
  const cc = Buffer.alloc(4);
  cc.writeUInt32BE(commandCode >>> 0);
  h.update(cc);
  for (const n of names) h.update(n);
  return h.update(parameters).digest();
}

/** rpHash (Part 1, 18.8): H(responseCode || commandCode || parameters). */
export function rpHash(
  hashAlg: number,
  responseCode: number,
  commandCode: number,
  parameters: Uint8Array,
): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(responseCode >>> 0, 0);
  head.writeUInt32BE(commandCode >>> 0, 4);
  return hasher(hashAlg).update(head).update(parameters).digest();
}

/** A handle of a command together with its Name, which cpHash covers (Part 1, 16 and 18.7). */
export interface NamedHandle {
  readonly handle: number;
  readonly name: Uint8Array;
}

/** Handle types whose Name is the handle itself: PCRs, sessions and permanent handles. */
const NAMED_BY_HANDLE: ReadonlySet<number> = new Set([
  TPM_HT.PCR,
  TPM_HT.HMAC_SESSION,
  TPM_HT.POLICY_SESSION,
  TPM_HT.PERMANENT,
]);

/**
 * A PCR, session or permanent handle (a hierarchy such as TPM_RH_ENDORSEMENT) with its Name: the
 * handle as a big-endian UINT32 (Part 1, 16). Objects and NV indexes are named by their public
 * area instead, so they are refused here.
 */
export function handleNamedBySelf(handle: number): NamedHandle {
  if (!NAMED_BY_HANDLE.has(handleType(handle))) {
    throw new TpmFormatError(
      "handle",
      `0x${handle.toString(16).padStart(8, "0")} is named by its public area, not by its handle`,
    );
  }
  const name = Buffer.alloc(4);
  name.writeUInt32BE(handle >>> 0);
  return { handle, name };
}

import { TpmFormatError, TpmReader, TpmWriter } from "./marshal.js";
import { TPM_ST } from "./constants.js";
import { TpmError } from "./rc.js";
import { readAuthResponses, writeAuthArea, writeAuthResponse } from "./structures/sessions.js";
import type { AuthCommand, AuthResponse } from "./structures/sessions.js";

/** Every command and response starts with tag (UINT16), size (UINT32), code (UINT32). */
export const HEADER_SIZE = 10;
/** A response larger than this is refused before it is read (no TPM's MAX_RESPONSE_SIZE is near it). */
export const MAX_RESPONSE_SIZE = 64 * 1024;

export interface CommandSpec {
  /** TPM_CC of the command. */
  readonly code: number;
  /** The handle area, in the order Part 3 lists the command's handles. */
  readonly handles?: readonly number[];
  /** One per handle that needs authorization (Part 3's "@" handles), in handle order. */
  readonly sessions?: readonly AuthCommand[];
  /** The marshalled parameter area. */
  readonly parameters?: Uint8Array;
}

/**
 * Frames a command (Part 1, 18.2): tag TPM_ST_SESSIONS when sessions are given, else
 * TPM_ST_NO_SESSIONS; commandSize covers the whole buffer.
 */
export function buildCommand(spec: CommandSpec): Buffer {
  const sessions = spec.sessions ?? [];
  const body = new TpmWriter();
  body.u32(spec.code);
  for (const h of spec.handles ?? []) body.u32(h);
  if (sessions.length > 0) writeAuthArea(body, sessions);
  if (spec.parameters) body.bytes(spec.parameters);
  const bodyBytes = body.toBuffer();
  const head = new TpmWriter();
  head.u16(sessions.length > 0 ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS);
  head.u32(2 + 4 + bodyBytes.length);
  return Buffer.concat([head.toBuffer(), bodyBytes]);
}

export interface ResponseHeader {
  readonly tag: number;
  readonly size: number;
  readonly responseCode: number;
}

/**
 * The header of a response, from its first 10 bytes: a transport reads this much, then
 * `size - 10` more. Refuses a size below the header or above MAX_RESPONSE_SIZE.
 */
export function parseResponseHeader(buf: Uint8Array): ResponseHeader {
  const r = new TpmReader(buf, 0, Math.min(buf.length, HEADER_SIZE));
  const tag = r.u16("response.tag");
  const size = r.u32("response.responseSize");
  const responseCode = r.u32("response.responseCode");
  if (tag !== TPM_ST.NO_SESSIONS && tag !== TPM_ST.SESSIONS && tag !== TPM_ST.RSP_COMMAND) {
    throw new TpmFormatError("response.tag", `0x${tag.toString(16).padStart(4, "0")} is not a response tag`);
  }
  if (size < HEADER_SIZE || size > MAX_RESPONSE_SIZE) {
    throw new TpmFormatError(
      "response.responseSize",
      `${size} is outside ${HEADER_SIZE}..${MAX_RESPONSE_SIZE}`,
    );
  }
  return { tag, size, responseCode };
}

export interface ParsedResponse {
  readonly tag: number;
  /** The handle area (e.g. objectHandle of TPM2_CreatePrimary / Load). */
  readonly handles: number[];
  /** The response parameter area, exactly: read it with a TpmReader and expectEnd. */
  readonly parameters: Buffer;
  /** One TPMS_AUTH_RESPONSE per command session (empty for TPM_ST_NO_SESSIONS). */
  readonly sessions: AuthResponse[];
}

export interface ParseResponseOptions {
  /** How many handles the command's response carries (Part 3's response handle area). */
  readonly handleCount: number;
  /** Whether the command was sent with sessions (then the response must carry them). */
  readonly hasSessions: boolean;
  /** TPM_CC or a name, for the TpmError message. */
  readonly command?: number | string;
}

/**
 * Splits a complete response into handles, parameters and sessions (Part 1, 18.10). A
 * non-success response code throws TpmError; a malformed frame throws TpmFormatError.
 */
export function parseResponse(buf: Uint8Array, opts: ParseResponseOptions): ParsedResponse {
  const header = parseResponseHeader(buf);
  if (header.size !== buf.length) {
    throw new TpmFormatError(
      "response.responseSize",
      `says ${header.size} bytes but ${buf.length} were received`,
    );
  }
  // Part 1 says an error response is the bare header; if a TPM appends bytes anyway, its response
  // code is still the more useful thing to report, and nothing after it is read.
  if (header.responseCode !== 0) throw new TpmError(opts.command ?? "TPM command", header.responseCode);
  const expectedTag = opts.hasSessions ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS;
  if (header.tag !== expectedTag) {
    throw new TpmFormatError(
      "response.tag",
      `0x${header.tag.toString(16).padStart(4, "0")} but the command ${opts.hasSessions ? "had" : "had no"} sessions`,
    );
  }
  const r = new TpmReader(buf, HEADER_SIZE, header.size);
  const handles: number[] = [];
  for (let i = 0; i < opts.handleCount; i++) handles.push(r.u32(`response.handles[${i}]`));
  if (!opts.hasSessions) {
    return {
      tag: header.tag,
      handles,
      parameters: r.bytes("response.parameters", r.remaining),
      sessions: [],
    };
  }
  const parameterSize = r.u32("response.parameterSize");
  const parameters = r.bytes("response.parameters", parameterSize);
  const sessions = readAuthResponses(r, "response.sessions");
  if (sessions.length === 0)
    throw new TpmFormatError("response.sessions", "missing (the command had sessions)");
  return { tag: header.tag, handles, parameters, sessions };
}

/** Builds a response frame: for tests and for a TPM simulator double. */
export function buildResponse(opts: {
  responseCode?: number;
  handles?: readonly number[];
  parameters?: Uint8Array;
  sessions?: readonly AuthResponse[];
}): Buffer {
  const rc = opts.responseCode ?? 0;
  const body = new TpmWriter();
  body.u32(rc);
  const withSessions = rc === 0 && opts.sessions !== undefined && opts.sessions.length > 0;
  if (rc === 0) {
    for (const h of opts.handles ?? []) body.u32(h);
    const params = Buffer.from(opts.parameters ?? Buffer.alloc(0));
    if (withSessions) body.u32(params.length);
    body.bytes(params);
    if (withSessions) {
      for (const s of opts.sessions ?? []) writeAuthResponse(body, s);
    }
  }
  const bodyBytes = body.toBuffer();
  const head = new TpmWriter();
  head.u16(withSessions ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS).u32(6 + bodyBytes.length);
  return Buffer.concat([head.toBuffer(), bodyBytes]);
}

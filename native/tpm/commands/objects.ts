import { TPM_CC, TPM_HT, handleType } from "../constants.js";
import { TpmWriter, type TpmReader } from "../marshal.js";
import { readName, readTpm2b, writeTpm2b } from "../structures/buffers.js";
import { handleNamedBySelf, passwordAuth, type NamedHandle } from "../structures/sessions.js";
import { readTicket, readTpm2bCreationData } from "../structures/tickets.js";
import {
  nameFromPublicArea,
  readTpm2bPublicWithBytes,
  unmarshalTpmtPublic,
  writeTpm2bPublic,
  type TpmtPublic,
} from "../structures/public.js";
import { writePcrSelectionList } from "../structures/pcr.js";
import { readParameters, type Tpm } from "../tpm.js";
import type { SaltedSession } from "../session/salted-session.js";
import { TpmArgumentError, TpmResponseError } from "./errors.js";

/** An object's public area as the TPM returned it: parsed, and the exact bytes its Name covers. */
export interface ObjectPublic {
  readonly public: TpmtPublic;
  readonly publicArea: Buffer;
  readonly name: Buffer;
}

export interface LoadedObject extends ObjectPublic {
  readonly handle: number;
}

/** A key created under a parent: the TPM-encrypted private blob, loadable only into this TPM. */
export interface CreatedObject extends ObjectPublic {
  /** TPM2B_PRIVATE payload: sealed with the parent's storage key; useless outside this TPM. */
  readonly private: Buffer;
}

/**
 * Reads a TPM2B_PUBLIC keeping its bytes, and checks that the Name the TPM reports is the Name of
 * exactly those bytes: a mismatch means the response was corrupted or forged in transit.
 */
function checkName(command: string, publicArea: Buffer, pub: TpmtPublic, reported: Buffer): Buffer {
  const computed = nameFromPublicArea(pub.nameAlg, publicArea);
  if (!computed.equals(reported)) {
    throw new TpmResponseError(
      "TPM_NAME_MISMATCH",
      `${command} returned a Name that is not the hash of the public area it returned`,
    );
  }
  return computed;
}

function writeSensitiveCreate(w: TpmWriter, userAuth: Uint8Array): void {
  // TPM2B_SENSITIVE_CREATE { userAuth, data }: keys carry no data (the TPM generates them).
  w.sizedStruct((inner) => {
    writeTpm2b(inner, "AUTH", userAuth, "TPMS_SENSITIVE_CREATE.userAuth");
    writeTpm2b(inner, "SENSITIVE_DATA", Buffer.alloc(0), "TPMS_SENSITIVE_CREATE.data");
  });
}

/**
 * The parameters TPM2_CreatePrimary and TPM2_Create share: inSensitive, inPublic, then the
 * creation inputs we never use (no outsideInfo, no creation PCRs).
 */
function creationParameters(template: TpmtPublic, userAuth: Uint8Array | undefined): Buffer {
  const w = new TpmWriter();
  writeSensitiveCreate(w, userAuth ?? Buffer.alloc(0));
  writeTpm2bPublic(w, template);
  writeTpm2b(w, "DATA", Buffer.alloc(0), "outsideInfo");
  writePcrSelectionList(w, [], "creationPCR");
  return w.toBuffer();
}

/** Parses and drops creationData, creationHash and creationTicket: hallmark certifies keys instead. */
function skipCreationOutputs(r: TpmReader): void {
  readTpm2bCreationData(r, "creationData");
  readTpm2b(r, "DIGEST", "creationHash");
  readTicket(r, "creation", "creationTicket");
}

/**
 * How a command authorizes its first handle (a hierarchy or a parent key): a plaintext password
 * (TPM_RS_PW) or a salted session. Through a session the authValue only keys the HMAC, and the
 * first parameter travels encrypted each way `encrypt` asks for.
 */
interface Authorization {
  readonly password?: Uint8Array;
  readonly session?: SaltedSession;
  readonly encrypt: { readonly command: boolean; readonly response: boolean };
}

/** The entity a command authorizes: a bare handle, or a handle with the Name a session's cpHash needs. */
export type AuthorizedHandle = number | NamedHandle;

async function executeAuthorized(
  tpm: Tpm,
  spec: {
    readonly code: number;
    readonly handle: AuthorizedHandle;
    readonly parameters: Buffer;
    readonly responseHandles?: number;
    readonly signal?: AbortSignal;
  },
  auth: Authorization,
): Promise<{ handles: readonly number[]; parameters: Buffer }> {
  const handle = typeof spec.handle === "number" ? spec.handle : spec.handle.handle;
  if (!auth.session) {
    return tpm.execute({
      code: spec.code,
      handles: [handle],
      sessions: [passwordAuth(auth.password)],
      parameters: spec.parameters,
      responseHandles: spec.responseHandles,
      signal: spec.signal,
    });
  }
  const named = typeof spec.handle === "number" ? nameOfHandle(spec.handle) : spec.handle;
  return auth.session.execute({
    code: spec.code,
    handles: [named],
    authValue: auth.password,
    parameters: spec.parameters,
    encrypt: auth.encrypt,
    responseHandles: spec.responseHandles,
    signal: spec.signal,
  });
}

/** A hierarchy is named by its handle; an object's Name must come with it (from its public area). */
function nameOfHandle(handle: number): NamedHandle {
  if (handleType(handle) !== TPM_HT.PERMANENT) {
    throw new TpmArgumentError(
      "TPM_NAME_REQUIRED",
      `a session authorizing object 0x${handle.toString(16)} needs its Name: pass { handle, name }`,
    );
  }
  return handleNamedBySelf(handle);
}

export interface CreateOptions {
  /** The authValue of the new key (travels encrypted when a session is given). */
  readonly userAuth?: Uint8Array;
  /**
   * Authorizes the hierarchy or parent through this salted session instead of a plaintext
   * password: inSensitive (the new key's authValue) goes encrypted, and for TPM2_Create so does
   * outPrivate on the way back.
   */
  readonly session?: SaltedSession;
  readonly signal?: AbortSignal;
}

/** TPM2_CreatePrimary under `hierarchy` (TPM_RH_OWNER / ENDORSEMENT / NULL), authorized by its authValue. */
export async function createPrimary(
  tpm: Tpm,
  hierarchy: number,
  template: TpmtPublic,
  opts: CreateOptions & { hierarchyAuth?: Uint8Array } = {},
): Promise<LoadedObject> {
  const res = await executeAuthorized(
    tpm,
    {
      code: TPM_CC.CreatePrimary,
      handle: hierarchy,
      parameters: creationParameters(template, opts.userAuth),
      responseHandles: 1,
      signal: opts.signal,
    },
    { password: opts.hierarchyAuth, session: opts.session, encrypt: { command: true, response: false } },
  );
  return finishWithNewHandle(tpm, res.handles[0] as number, (handle) => {
    const out = readParameters(res.parameters, "TPM2_CreatePrimary", (r) => {
      const p = readTpm2bPublicWithBytes(r, "outPublic");
      skipCreationOutputs(r);
      return { ...p, name: readName(r, "name") };
    });
    return { handle, ...out, name: checkName("TPM2_CreatePrimary", out.publicArea, out.public, out.name) };
  });
}

/**
 * TPM2_Create: a new key under a loaded storage parent. With a session, `parent` carries the
 * parent's Name ({ handle, name }: a LoadedObject will do).
 */
export async function create(
  tpm: Tpm,
  parent: AuthorizedHandle,
  template: TpmtPublic,
  opts: CreateOptions & { parentAuth?: Uint8Array } = {},
): Promise<CreatedObject> {
  const res = await executeAuthorized(
    tpm,
    {
      code: TPM_CC.Create,
      handle: parent,
      parameters: creationParameters(template, opts.userAuth),
      signal: opts.signal,
    },
    { password: opts.parentAuth, session: opts.session, encrypt: { command: true, response: true } },
  );
  const out = readParameters(res.parameters, "TPM2_Create", (r) => {
    const priv = readTpm2b(r, "PRIVATE", "outPrivate");
    const p = readTpm2bPublicWithBytes(r, "outPublic");
    skipCreationOutputs(r);
    return { private: priv, ...p };
  });
  return { ...out, name: nameFromPublicArea(out.public.nameAlg, out.publicArea) };
}

/**
 * TPM2_Load: brings a Create'd key back under its parent; returns its transient handle. The
 * private blob is sealed by the parent already, so a session matters for a parent with an
 * authValue (and makes the returned Name one the session key vouches for).
 */
export async function load(
  tpm: Tpm,
  parent: AuthorizedHandle,
  privateBlob: Uint8Array,
  publicArea: Uint8Array,
  opts: { parentAuth?: Uint8Array; session?: SaltedSession; signal?: AbortSignal } = {},
): Promise<LoadedObject> {
  const w = new TpmWriter();
  writeTpm2b(w, "PRIVATE", privateBlob, "inPrivate");
  w.sized(publicArea);
  const res = await executeAuthorized(
    tpm,
    {
      code: TPM_CC.Load,
      handle: parent,
      parameters: w.toBuffer(),
      responseHandles: 1,
      signal: opts.signal,
    },
    { password: opts.parentAuth, session: opts.session, encrypt: { command: true, response: false } },
  );
  return finishWithNewHandle(tpm, res.handles[0] as number, (handle) => {
    const reported = readParameters(res.parameters, "TPM2_Load", (r) => readName(r, "name"));
    const pub = unmarshalTpmtPublic(publicArea);
    const area = Buffer.from(publicArea);
    return { handle, public: pub, publicArea: area, name: checkName("TPM2_Load", area, pub, reported) };
  });
}

/** TPM2_ReadPublic of a loaded or persistent object. */
export async function readPublic(
  tpm: Tpm,
  handle: number,
  options: { signal?: AbortSignal } = {},
): Promise<ObjectPublic & { qualifiedName: Buffer }> {
  const res = await tpm.execute({ code: TPM_CC.ReadPublic, handles: [handle], signal: options.signal });
  const out = readParameters(res.parameters, "TPM2_ReadPublic", (r) => {
    const p = readTpm2bPublicWithBytes(r, "outPublic");
    return { ...p, name: readName(r, "name"), qualifiedName: readName(r, "qualifiedName") };
  });
  return { ...out, name: checkName("TPM2_ReadPublic", out.publicArea, out.public, out.name) };
}

/** TPM2_FlushContext: frees a transient object or session slot. */
export async function flushContext(tpm: Tpm, handle: number): Promise<void> {
  await tpm.execute({ code: TPM_CC.FlushContext, parameters: new TpmWriter().u32(handle).toBuffer() });
}

/**
 * TPM2_FlushContext on a clean-up path: a failure is swallowed, because the error that led here
 * matters more, and a handle the TPM no longer knows (it was reset) needs no flushing.
 */
export async function flushQuietly(tpm: Tpm, handle: number): Promise<void> {
  try {
    await flushContext(tpm, handle);
  } catch {
    // See above: clean-up only.
  }
}

/**
 * Finishes a command whose response handed out a new transient handle (CreatePrimary, Load,
 * StartAuthSession). Until `finish` returns, nobody else knows the handle: if reading the rest of
 * the response fails (corrupt bytes, a Name that does not match), it is flushed here before the
 * error goes up, or it would hold one of the TPM's few slots until reset (swtpm and /dev/tpm0
 * have no resource manager to do it for us).
 */
export async function finishWithNewHandle<T>(
  tpm: Tpm,
  handle: number,
  finish: (handle: number) => T,
): Promise<T> {
  try {
    return finish(handle);
  } catch (err) {
    await flushQuietly(tpm, handle);
    throw err;
  }
}

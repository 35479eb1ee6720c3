import { TPM_CC } from "../constants.js";
import { TpmWriter, type TpmReader } from "../marshal.js";
import { readName, readTpm2b, writeTpm2b } from "../structures/buffers.js";
import { passwordAuth } from "../structures/sessions.js";
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
import { TpmResponseError } from "./errors.js";

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

/** TPM2_CreatePrimary under `hierarchy` (TPM_RH_OWNER / ENDORSEMENT) with its (empty) password. */
export async function createPrimary(
  tpm: Tpm,
  hierarchy: number,
  template: TpmtPublic,
  opts: { hierarchyAuth?: Uint8Array; userAuth?: Uint8Array } = {},
): Promise<LoadedObject> {
  const res = await tpm.execute({
    code: TPM_CC.CreatePrimary,
    handles: [hierarchy],
    sessions: [passwordAuth(opts.hierarchyAuth)],
    parameters: creationParameters(template, opts.userAuth),
    responseHandles: 1,
  });
  return finishWithNewHandle(tpm, res.handles[0] as number, (handle) => {
    const out = readParameters(res.parameters, "TPM2_CreatePrimary", (r) => {
      const p = readTpm2bPublicWithBytes(r, "outPublic");
      skipCreationOutputs(r);
      return { ...p, name: readName(r, "name") };
    });
    return { handle, ...out, name: checkName("TPM2_CreatePrimary", out.publicArea, out.public, out.name) };
  });
}

/** TPM2_Create: a new key under a loaded storage parent (password-authorized). */
export async function create(
  tpm: Tpm,
  parentHandle: number,
  template: TpmtPublic,
  opts: { parentAuth?: Uint8Array; userAuth?: Uint8Array } = {},
): Promise<CreatedObject> {
  const res = await tpm.execute({
    code: TPM_CC.Create,
    handles: [parentHandle],
    sessions: [passwordAuth(opts.parentAuth)],
    parameters: creationParameters(template, opts.userAuth),
  });
  const out = readParameters(res.parameters, "TPM2_Create", (r) => {
    const priv = readTpm2b(r, "PRIVATE", "outPrivate");
    const p = readTpm2bPublicWithBytes(r, "outPublic");
    skipCreationOutputs(r);
    return { private: priv, ...p };
  });
  return { ...out, name: nameFromPublicArea(out.public.nameAlg, out.publicArea) };
}

/** TPM2_Load: brings a Create'd key back under its parent; returns its transient handle. */
export async function load(
  tpm: Tpm,
  parentHandle: number,
  privateBlob: Uint8Array,
  publicArea: Uint8Array,
  opts: { parentAuth?: Uint8Array } = {},
): Promise<LoadedObject> {
  const w = new TpmWriter();
  writeTpm2b(w, "PRIVATE", privateBlob, "inPrivate");
  w.sized(publicArea);
  const res = await tpm.execute({
    code: TPM_CC.Load,
    handles: [parentHandle],
    sessions: [passwordAuth(opts.parentAuth)],
    parameters: w.toBuffer(),
    responseHandles: 1,
  });
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
): Promise<ObjectPublic & { qualifiedName: Buffer }> {
  const res = await tpm.execute({ code: TPM_CC.ReadPublic, handles: [handle] });
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

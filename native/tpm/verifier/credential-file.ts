import { TpmReader, TpmWriter, TpmFormatError } from "../marshal.js";
import { readTpm2b } from "../structures/buffers.js";
import { TpmVerificationError } from "./errors.js";

/**
 * What TPM2_MakeCredential produces and TPM2_ActivateCredential consumes. Both fields are the
 * payloads of their TPM2B envelopes (no UINT16 size prefix): a command builder writes them with
 * `TpmWriter.sized()`.
 */
export interface CredentialChallenge {
  /** TPM2B_ID_OBJECT.credential: TPM2B_DIGEST integrityHMAC || encIdentity. */
  readonly credentialBlob: Buffer;
  /** TPM2B_ENCRYPTED_SECRET.secret: the seed, OAEP-encrypted (RSA EK) or a TPMS_ECC_POINT (ECC EK). */
  readonly secret: Buffer;
}

/** The two parts of a TPM2B_ID_OBJECT payload (TCG Part 2, TPMS_ID_OBJECT). */
export interface IdObject {
  readonly integrityHmac: Buffer;
  readonly encIdentity: Buffer;
}

// tpm2-tools' file header (lib/files.c): BEU32 magic, BEU32 version.
const TOOLS_MAGIC = 0xbadcc0de;
const TOOLS_CREDENTIAL_VERSION = 1;

/** Splits a TPM2B_ID_OBJECT payload into integrityHMAC and encIdentity. */
export function parseIdObject(credentialBlob: Uint8Array): IdObject {
  return wrapFormat("CREDENTIAL_INVALID", () => {
    const r = new TpmReader(credentialBlob);
    const integrityHmac = readTpm2b(r, "DIGEST", "TPMS_ID_OBJECT.integrityHMAC");
    if (integrityHmac.length === 0) {
      throw new TpmFormatError("TPMS_ID_OBJECT.integrityHMAC", "is empty");
    }
    const encIdentity = r.bytes("TPMS_ID_OBJECT.encIdentity", r.remaining);
    if (encIdentity.length < 2) {
      throw new TpmFormatError("TPMS_ID_OBJECT.encIdentity", "is shorter than a TPM2B_DIGEST size field");
    }
    return { integrityHmac, encIdentity };
  });
}

/** tpm2_makecredential's output file, which tpm2_activatecredential -i reads. */
export function encodeToolsCredentialFile(challenge: CredentialChallenge): Buffer {
  return new TpmWriter()
    .u32(TOOLS_MAGIC)
    .u32(TOOLS_CREDENTIAL_VERSION)
    .sized(challenge.credentialBlob)
    .sized(challenge.secret)
    .toBuffer();
}

/** Reads a tpm2_makecredential output file; refuses a wrong header, bad sizes and trailing bytes. */
export function parseToolsCredentialFile(file: Uint8Array): CredentialChallenge {
  return wrapFormat("CREDENTIAL_FILE_INVALID", () => {
    const r = new TpmReader(file);
    const magic = r.u32("header.magic");
    if (magic !== TOOLS_MAGIC) {
      throw new TpmFormatError("header.magic", `expected 0xbadcc0de, got 0x${magic.toString(16)}`);
    }
    const version = r.u32("header.version");
    if (version !== TOOLS_CREDENTIAL_VERSION) {
      throw new TpmFormatError("header.version", `expected ${TOOLS_CREDENTIAL_VERSION}, got ${version}`);
    }
    const credentialBlob = readTpm2b(r, "ID_OBJECT");
    const secret = readTpm2b(r, "ENCRYPTED_SECRET");
    r.expectEnd("credential file");
    parseIdObject(credentialBlob);
    if (secret.length === 0) throw new TpmFormatError("TPM2B_ENCRYPTED_SECRET", "is empty");
    return { credentialBlob, secret };
  });
}

/** Re-labels a structural failure with the verifier's code, keeping the field-naming cause. */
function wrapFormat<T>(code: "CREDENTIAL_INVALID" | "CREDENTIAL_FILE_INVALID", parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof TpmFormatError) {
      throw new TpmVerificationError(code, `malformed credential: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

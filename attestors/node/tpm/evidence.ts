import { HallmarkError } from "../../../common/errors.js";
import {
  MAX_NONCE_BYTES,
  MIN_NONCE_BYTES,
  TpmFormatError,
  TpmReader,
  TpmWriter,
  type CertifyEvidence,
  type CredentialChallenge,
  type QuoteEvidence,
} from "../../../native/tpm/index.js";

/**
 * What the agent and the server exchange in TPM node attestation, every field the TPM wire bytes (or
 * DER) it is, so no side ever takes a structure someone else parsed:
 *
 *   agent → server  TpmAttestationRequest   the EK (public area, certificate, intermediates) and the AK
 *   server → agent  TpmChallenge             MakeCredential's challenge, a nonce, the PCRs to quote
 *   agent → server  TpmChallengeResponse     the activated credential, the quote, the agent key's certification
 *
 * Each message has one binary encoding (the gRPC API carries it as `bytes`): a version octet, a
 * kind octet, then the fields in a fixed order, each a UINT16 size and that many bytes (a list is
 * a count octet and its items). Decoding is strict: every field within its limit, required fields
 * present, nothing after the last field. A malformed message is a TpmEvidenceError naming the field.
 */

export interface TpmAttestationRequest {
  /** TPMT_PUBLIC of the EK. */
  readonly ekPublic: Buffer;
  /** DER EK certificate from the TPM's NV index; absent for a TPM shipped without one. */
  readonly ekCertificate?: Buffer;
  /** DER intermediates the agent holds for its EK certificate. */
  readonly ekIntermediates: readonly Buffer[];
  /** TPMT_PUBLIC of the AK. */
  readonly akPublic: Buffer;
}

export interface TpmChallenge extends CredentialChallenge {
  /** The nonce the quote and the certification must carry (extraData). */
  readonly nonce: Buffer;
  /** TPML_PCR_SELECTION: the PCRs to quote. */
  readonly pcrSelection: Buffer;
}

export interface TpmChallengeResponse {
  /** The secret TPM2_ActivateCredential released. */
  readonly credential: Buffer;
  readonly quote: Omit<QuoteEvidence, "akPublic">;
  readonly certify: Omit<CertifyEvidence, "akPublic">;
}

export type TpmEvidenceErrorCode =
  | "EVIDENCE_VERSION_UNSUPPORTED"
  | "EVIDENCE_KIND_MISMATCH"
  | "EVIDENCE_FIELD_INVALID"
  | "EVIDENCE_TRAILING_BYTES";

export class TpmEvidenceError extends HallmarkError<TpmEvidenceErrorCode> {
  /** The message field at fault ("quote.signature", "ekIntermediates[1]"), when there is one. */
  readonly field: string | undefined;

  constructor(
    code: TpmEvidenceErrorCode,
    message: string,
    options: { field?: string; cause?: unknown } = {},
  ) {
    super(code, message, { category: "invalid_argument", cause: options.cause });
    this.field = options.field;
  }
}

const VERSION = 1;
const KIND = { request: 1, challenge: 2, response: 3 } as const;
type Kind = keyof typeof KIND;

/**
 * Largest accepted size of each field. TPM structures: a TPMT_PUBLIC of an RSA-4096 key is about
 * 620 bytes, a TPMS_ATTEST of a quote over every bank under 400, a TPMT_SIGNATURE at most 518.
 * Certificates: EK certificates are 1-2 KiB. PCR values: 24 PCRs in each of four banks fit easily.
 */
const LIMITS = {
  tpmStructure: 1024,
  certificate: 8192,
  intermediates: 4,
  pcrValues: 8192,
  pcrSelection: 256,
  /** TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET (an RSA-4096 ciphertext). */
  credentialBlob: 256,
  secret: 512,
  /** What ActivateCredential releases is at most a digest. */
  credential: 64,
} as const;

/** One field's rule: its limits, and whether it may be empty. */
interface FieldRule {
  readonly max: number;
  readonly min?: number;
  readonly optional?: boolean;
}

const TPM_STRUCTURE: FieldRule = { max: LIMITS.tpmStructure };

class FieldWriter {
  readonly #w = new TpmWriter();

  constructor(kind: Kind) {
    this.#w.u8(VERSION).u8(KIND[kind]);
  }

  bytes(field: string, value: Uint8Array | undefined, rule: FieldRule): this {
    checkField(field, value ?? Buffer.alloc(0), rule);
    this.#w.sized(value ?? Buffer.alloc(0));
    return this;
  }

  list(field: string, values: readonly Uint8Array[], max: number, rule: FieldRule): this {
    if (values.length > max) {
      throw new TpmEvidenceError(
        "EVIDENCE_FIELD_INVALID",
        `${field}: ${values.length} items, at most ${max}`,
        {
          field,
        },
      );
    }
    this.#w.u8(values.length);
    values.forEach((v, i) => this.bytes(`${field}[${i}]`, v, rule));
    return this;
  }

  toBuffer(): Buffer {
    return this.#w.toBuffer();
  }
}

class FieldReader {
  readonly #r: TpmReader;

  constructor(bytes: Uint8Array, kind: Kind) {
    if (!(bytes instanceof Uint8Array)) {
      throw new TpmEvidenceError("EVIDENCE_FIELD_INVALID", `a ${kind} message must be bytes`);
    }
    this.#r = new TpmReader(bytes);
    const version = this.#read("version", () => this.#r.u8("version"));
    if (version !== VERSION) {
      throw new TpmEvidenceError(
        "EVIDENCE_VERSION_UNSUPPORTED",
        `TPM evidence version ${version} is not supported (${VERSION} is)`,
        { field: "version" },
      );
    }
    const got = this.#read("kind", () => this.#r.u8("kind"));
    if (got !== KIND[kind]) {
      throw new TpmEvidenceError("EVIDENCE_KIND_MISMATCH", `expected a ${kind} message, got kind ${got}`, {
        field: "kind",
      });
    }
  }

  bytes(field: string, rule: FieldRule): Buffer {
    const value = this.#read(field, () => this.#r.sized(field));
    checkField(field, value, rule);
    return value;
  }

  optional(field: string, rule: FieldRule): Buffer | undefined {
    const value = this.bytes(field, { ...rule, optional: true });
    return value.length === 0 ? undefined : value;
  }

  list(field: string, max: number, rule: FieldRule): Buffer[] {
    const count = this.#read(field, () => this.#r.u8(`${field}.count`));
    if (count > max) {
      throw new TpmEvidenceError("EVIDENCE_FIELD_INVALID", `${field}: ${count} items, at most ${max}`, {
        field,
      });
    }
    return Array.from({ length: count }, (_, i) => this.bytes(`${field}[${i}]`, rule));
  }

  end(): void {
    if (this.#r.remaining !== 0) {
      throw new TpmEvidenceError(
        "EVIDENCE_TRAILING_BYTES",
        `${this.#r.remaining} byte(s) after the last field of the message`,
      );
    }
  }

  #read<T>(field: string, read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof TpmFormatError)) throw err;
      throw new TpmEvidenceError("EVIDENCE_FIELD_INVALID", `${field}: the message ends inside it`, {
        field,
        cause: err,
      });
    }
  }
}

function checkField(field: string, value: Uint8Array, rule: FieldRule): void {
  if (!(value instanceof Uint8Array)) {
    throw new TpmEvidenceError("EVIDENCE_FIELD_INVALID", `${field} must be bytes`, { field });
  }
  if (value.length === 0 && rule.optional) return;
  const min = rule.min ?? 1;
  if (value.length < min || value.length > rule.max) {
    const bounds = min === rule.max ? `${min}` : `${min} to ${rule.max}`;
    throw new TpmEvidenceError(
      "EVIDENCE_FIELD_INVALID",
      `${field} is ${value.length} bytes; it must be ${bounds}${value.length === 0 ? " (it is required)" : ""}`,
      { field },
    );
  }
}

const NONCE: FieldRule = { min: MIN_NONCE_BYTES, max: MAX_NONCE_BYTES };

export function encodeTpmAttestationRequest(m: TpmAttestationRequest): Buffer {
  return new FieldWriter("request")
    .bytes("ekPublic", m.ekPublic, TPM_STRUCTURE)
    .bytes("ekCertificate", m.ekCertificate, { max: LIMITS.certificate, optional: true })
    .list("ekIntermediates", m.ekIntermediates, LIMITS.intermediates, { max: LIMITS.certificate })
    .bytes("akPublic", m.akPublic, TPM_STRUCTURE)
    .toBuffer();
}

export function decodeTpmAttestationRequest(bytes: Uint8Array): TpmAttestationRequest {
  const r = new FieldReader(bytes, "request");
  const ekPublic = r.bytes("ekPublic", TPM_STRUCTURE);
  const ekCertificate = r.optional("ekCertificate", { max: LIMITS.certificate });
  const ekIntermediates = r.list("ekIntermediates", LIMITS.intermediates, { max: LIMITS.certificate });
  const akPublic = r.bytes("akPublic", TPM_STRUCTURE);
  r.end();
  return { ekPublic, ...(ekCertificate ? { ekCertificate } : {}), ekIntermediates, akPublic };
}

export function encodeTpmChallenge(m: TpmChallenge): Buffer {
  return new FieldWriter("challenge")
    .bytes("credentialBlob", m.credentialBlob, { max: LIMITS.credentialBlob })
    .bytes("secret", m.secret, { max: LIMITS.secret })
    .bytes("nonce", m.nonce, NONCE)
    .bytes("pcrSelection", m.pcrSelection, { max: LIMITS.pcrSelection })
    .toBuffer();
}

export function decodeTpmChallenge(bytes: Uint8Array): TpmChallenge {
  const r = new FieldReader(bytes, "challenge");
  const credentialBlob = r.bytes("credentialBlob", { max: LIMITS.credentialBlob });
  const secret = r.bytes("secret", { max: LIMITS.secret });
  const nonce = r.bytes("nonce", NONCE);
  const pcrSelection = r.bytes("pcrSelection", { max: LIMITS.pcrSelection });
  r.end();
  return { credentialBlob, secret, nonce, pcrSelection };
}

export function encodeTpmChallengeResponse(m: TpmChallengeResponse): Buffer {
  return new FieldWriter("response")
    .bytes("credential", m.credential, { max: LIMITS.credential })
    .bytes("quote.attest", m.quote.attest, TPM_STRUCTURE)
    .bytes("quote.signature", m.quote.signature, TPM_STRUCTURE)
    .bytes("quote.pcrValues", m.quote.pcrValues, { max: LIMITS.pcrValues })
    .bytes("certify.attest", m.certify.attest, TPM_STRUCTURE)
    .bytes("certify.signature", m.certify.signature, TPM_STRUCTURE)
    .bytes("certify.certifiedPublic", m.certify.certifiedPublic, TPM_STRUCTURE)
    .toBuffer();
}

export function decodeTpmChallengeResponse(bytes: Uint8Array): TpmChallengeResponse {
  const r = new FieldReader(bytes, "response");
  const credential = r.bytes("credential", { max: LIMITS.credential });
  const quote = {
    attest: r.bytes("quote.attest", TPM_STRUCTURE),
    signature: r.bytes("quote.signature", TPM_STRUCTURE),
    pcrValues: r.bytes("quote.pcrValues", { max: LIMITS.pcrValues }),
  };
  const certify = {
    attest: r.bytes("certify.attest", TPM_STRUCTURE),
    signature: r.bytes("certify.signature", TPM_STRUCTURE),
    certifiedPublic: r.bytes("certify.certifiedPublic", TPM_STRUCTURE),
  };
  r.end();
  return { credential, quote, certify };
}

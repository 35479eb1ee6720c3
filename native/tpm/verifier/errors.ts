import { HallmarkError, type ErrorCategory } from "../../../common/errors.js";

/**
 * Why a piece of TPM evidence was refused. Codes are stable: the node attestor maps them to its
 * answer and operators grep logs for them.
 *
 * - permission_denied: well-formed evidence that does not prove what it must (bad signature,
 *   wrong nonce, PCRs that do not match, a key with the wrong attributes).
 * - invalid_argument: evidence or a request the verifier cannot use at all (unsupported
 *   algorithm, a key type that cannot play the role asked of it, bytes that do not parse).
 *
 * EK_CHAIN_* codes say why an EK certificate does not chain to a configured manufacturer CA;
 * EVIDENCE_MALFORMED names (in `field`) the evidence field whose bytes are not the TPM structure
 * they must be.
 */
export type TpmVerificationCode =
  | "QUOTE_SIGNATURE_INVALID"
  | "QUOTE_MAGIC_INVALID"
  | "QUOTE_TYPE_INVALID"
  | "QUOTE_NONCE_MISMATCH"
  | "QUOTE_SELECTION_MISMATCH"
  | "QUOTE_SELECTION_EMPTY"
  | "NONCE_INVALID"
  | "PCR_VALUE_MISSING"
  | "PCR_DIGEST_MISMATCH"
  | "CERTIFY_SIGNATURE_INVALID"
  | "CERTIFY_MAGIC_INVALID"
  | "CERTIFY_TYPE_INVALID"
  | "CERTIFY_NONCE_MISMATCH"
  | "CERTIFY_NAME_MISMATCH"
  | "SIGNATURE_SCHEME_UNSUPPORTED"
  | "AK_ATTRIBUTE_INVALID"
  | "AK_SCHEME_INVALID"
  | "AGENT_KEY_ATTRIBUTE_INVALID"
  | "EK_KEY_UNSUPPORTED"
  | "EK_CERTIFICATE_INVALID"
  | "EK_CERTIFICATE_KEY_MISMATCH"
  | "EK_CERTIFICATE_PROFILE_INVALID"
  | "EK_CHAIN_UNTRUSTED"
  | "EK_CHAIN_SIGNATURE_INVALID"
  | "EK_CHAIN_ISSUER_NOT_CA"
  | "EK_CHAIN_PATH_TOO_LONG"
  | "EK_CHAIN_EXPIRED"
  | "EK_CHAIN_NOT_YET_VALID"
  | "EK_CHAIN_CRITICAL_EXTENSION"
  | "EK_NOT_ALLOWED"
  | "EVIDENCE_MALFORMED"
  | "CREDENTIAL_MISMATCH"
  | "CREDENTIAL_INVALID"
  | "CREDENTIAL_FILE_INVALID"
  | "ATTEST_MALFORMED"
  | "ALGORITHM_UNSUPPORTED"
  | "KDF_LENGTH_INVALID";

const INVALID_ARGUMENT: ReadonlySet<TpmVerificationCode> = new Set<TpmVerificationCode>([
  "SIGNATURE_SCHEME_UNSUPPORTED",
  "EK_KEY_UNSUPPORTED",
  "CREDENTIAL_INVALID",
  "CREDENTIAL_FILE_INVALID",
  "ALGORITHM_UNSUPPORTED",
  "ATTEST_MALFORMED",
  "EVIDENCE_MALFORMED",
  "QUOTE_SELECTION_EMPTY",
  "NONCE_INVALID",
  "KDF_LENGTH_INVALID",
]);

export class TpmVerificationError extends HallmarkError<TpmVerificationCode> {
  /** The key attribute or structure field at fault, when there is one (e.g. "restricted"). */
  readonly field: string | undefined;

  constructor(code: TpmVerificationCode, message: string, options: { cause?: unknown; field?: string } = {}) {
    const category: ErrorCategory = INVALID_ARGUMENT.has(code) ? "invalid_argument" : "permission_denied";
    super(code, message, { category, cause: options.cause });
    this.field = options.field;
  }
}

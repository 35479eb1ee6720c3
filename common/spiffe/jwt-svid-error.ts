import { HallmarkError } from "../errors.js";

/** Why a JWT-SVID is not valid (JWT-SVID specification, section 4; every one is INVALID_ARGUMENT, as in SPIRE). */
export type JwtSvidErrorCode =
  /** Not a JWS in compact serialization, or its header or payload is not a JSON object. */
  | "JWT_MALFORMED"
  /** `alg` is not one the JWT-SVID spec allows (RS/ES/PS with SHA-256/384/512): never `none` or HMAC. */
  | "JWT_ALGORITHM_NOT_ALLOWED"
  /** `typ` is present and neither `JWT` nor `JOSE`. */
  | "JWT_TYPE_NOT_ALLOWED"
  /** No `kid` in the header: the key cannot be chosen from the bundle. */
  | "JWT_KEY_ID_MISSING"
  /** `sub` is missing or not a workload's SPIFFE ID. */
  | "JWT_SUBJECT_INVALID"
  /** `sub` is in another trust domain, for which the validator holds no bundle (no federation). */
  | "JWT_FOREIGN_TRUST_DOMAIN"
  /** `kid` names no JWT authority of the trust domain's bundle. */
  | "JWT_KEY_NOT_FOUND"
  /** The signature does not verify with that key (or the key does not suit `alg`). */
  | "JWT_SIGNATURE_INVALID"
  /** No `exp`, or not a number. */
  | "JWT_EXPIRY_MISSING"
  | "JWT_EXPIRED"
  /** `nbf` is in the future. */
  | "JWT_NOT_YET_VALID"
  /** `aud` is missing or does not contain the audience asked for. */
  | "JWT_AUDIENCE_MISMATCH";

export class JwtSvidError extends HallmarkError<JwtSvidErrorCode> {
  constructor(code: JwtSvidErrorCode, message: string, cause?: unknown) {
    super(code, `invalid JWT-SVID: ${message}`, { category: "invalid_argument", cause });
  }
}

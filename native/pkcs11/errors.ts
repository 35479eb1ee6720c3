import pkcs11js from "pkcs11js";
import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

/** Every code a Pkcs11Error carries; README.md says what each means to an operator. */
export type Pkcs11ErrorCode =
  // Loading and reaching the token.
  | "PKCS11_MODULE_LOAD_FAILED"
  | "PKCS11_MODULE_INIT_FAILED"
  | "PKCS11_NOT_INITIALIZED"
  | "PKCS11_TOKEN_NOT_FOUND"
  | "PKCS11_TOKEN_AMBIGUOUS"
  | "PKCS11_TOKEN_ABSENT"
  | "PKCS11_DEVICE_REMOVED"
  | "PKCS11_DEVICE_ERROR"
  | "PKCS11_BAD_CONFIG"
  // The PIN and the login.
  | "PKCS11_PIN_MISSING"
  | "PKCS11_PIN_FILE_PERMISSIONS"
  | "PKCS11_PIN_INCORRECT"
  | "PKCS11_PIN_LOCKED"
  | "PKCS11_PIN_EXPIRED"
  | "PKCS11_PIN_INVALID"
  | "PKCS11_NOT_LOGGED_IN"
  // Sessions and object handles.
  | "PKCS11_SESSION_INVALID"
  | "PKCS11_SESSION_STALE"
  | "PKCS11_HANDLE_INVALID"
  // Keys on the token.
  | "PKCS11_BAD_KEY_ID"
  | "PKCS11_KEY_NOT_FOUND"
  | "PKCS11_KEY_EXISTS"
  | "PKCS11_KEY_CHANGED"
  | "PKCS11_KEY_UNSAFE"
  | "PKCS11_KEY_AMBIGUOUS"
  | "PKCS11_KEY_INCOMPLETE"
  | "PKCS11_KEY_MISMATCH"
  | "PKCS11_KEY_UNSUPPORTED"
  | "PKCS11_BAD_PUBLIC_KEY"
  | "PKCS11_ATTRIBUTE_SENSITIVE"
  // Signing.
  | "PKCS11_SCHEME_MISMATCH"
  | "PKCS11_MECHANISM_UNSUPPORTED"
  | "PKCS11_SIGN_TIMEOUT"
  | "PKCS11_SIGNER_FAILED"
  // The key manager itself, and anything the module reports that has no code of its own.
  | "PKCS11_CLOSED"
  | "PKCS11_FAILED";

/**
 * Every failure of the HSM boundary, with a code that says what went wrong in terms an operator can act on
 * (wrong PIN, token absent, module missing) rather than a bare CKR_* number.
 */
export class Pkcs11Error extends HallmarkError<Pkcs11ErrorCode> {
  /** The CKR_* name reported by the module, when the failure came from the module. */
  readonly ckr: string | undefined;

  constructor(
    code: Pkcs11ErrorCode,
    message: string,
    options: { category?: ErrorCategory; cause?: unknown; ckr?: string } = {},
  ) {
    super(code, message, { category: options.category ?? "internal", cause: options.cause });
    this.ckr = options.ckr;
  }
}

/** The CKR_* name of a pkcs11js error, or undefined for anything else (a TypeError, a dlopen failure). */
export function ckrName(err: unknown): string | undefined {
  if (err instanceof pkcs11js.Pkcs11Error) return err.message.startsWith("CKR_") ? err.message : undefined;
  return undefined;
}

/** Return values after which the session (or the whole login) is gone and a fresh session may succeed. */
const SESSION_LOST = new Set([
  "CKR_SESSION_HANDLE_INVALID",
  "CKR_SESSION_CLOSED",
  "CKR_DEVICE_REMOVED",
  "CKR_TOKEN_NOT_PRESENT",
  "CKR_USER_NOT_LOGGED_IN",
]);

/**
 * Return values that say one object handle is no longer valid (the object was destroyed, or replaced by
 * another application): the sessions and the login are fine, only that object must be found again.
 */
const HANDLE_STALE = new Set(["CKR_OBJECT_HANDLE_INVALID", "CKR_KEY_HANDLE_INVALID"]);

export function isSessionLost(err: unknown): boolean {
  // A signing thread refused a job queued before a recovery: a fresh session is already there.
  if (err instanceof Pkcs11Error) return err.code === "PKCS11_SESSION_STALE";
  const name = ckrName(err);
  return name !== undefined && SESSION_LOST.has(name);
}

export function isStaleHandle(err: unknown): boolean {
  const name = ckrName(err);
  return name !== undefined && HANDLE_STALE.has(name);
}

/** Maps a module error to a typed Pkcs11Error; `doing` names the operation for the message. */
export function mapPkcs11Error(err: unknown, doing: string): Pkcs11Error {
  if (err instanceof Pkcs11Error) return err;
  const ckr = ckrName(err);
  const opts = (category: ErrorCategory) => ({ category, cause: err, ckr });
  switch (ckr) {
    case "CKR_PIN_INCORRECT":
      return new Pkcs11Error(
        "PKCS11_PIN_INCORRECT",
        `${doing}: the token refused the PIN (CKR_PIN_INCORRECT)`,
        opts("permission_denied"),
      );
    case "CKR_PIN_LOCKED":
      return new Pkcs11Error(
        "PKCS11_PIN_LOCKED",
        `${doing}: the user PIN is locked (CKR_PIN_LOCKED)`,
        opts("permission_denied"),
      );
    case "CKR_PIN_EXPIRED":
      return new Pkcs11Error(
        "PKCS11_PIN_EXPIRED",
        `${doing}: the user PIN has expired and must be changed on the token (CKR_PIN_EXPIRED)`,
        opts("permission_denied"),
      );
    case "CKR_CRYPTOKI_NOT_INITIALIZED":
      return new Pkcs11Error(
        "PKCS11_NOT_INITIALIZED",
        `${doing}: the PKCS#11 module is not initialised (CKR_CRYPTOKI_NOT_INITIALIZED); was it finalised by another user?`,
        opts("failed_precondition"),
      );
    case "CKR_PIN_LEN_RANGE":
    case "CKR_PIN_INVALID":
      return new Pkcs11Error(
        "PKCS11_PIN_INVALID",
        `${doing}: the PIN has an invalid length or characters (${ckr})`,
        opts("invalid_argument"),
      );
    case "CKR_TOKEN_NOT_PRESENT":
      return new Pkcs11Error(
        "PKCS11_TOKEN_ABSENT",
        `${doing}: the token is not present (CKR_TOKEN_NOT_PRESENT)`,
        opts("unavailable"),
      );
    case "CKR_DEVICE_REMOVED":
      return new Pkcs11Error(
        "PKCS11_DEVICE_REMOVED",
        `${doing}: the device was removed (CKR_DEVICE_REMOVED)`,
        opts("unavailable"),
      );
    case "CKR_DEVICE_ERROR":
    case "CKR_DEVICE_MEMORY":
      return new Pkcs11Error(
        "PKCS11_DEVICE_ERROR",
        `${doing}: the device reported ${ckr}`,
        opts("unavailable"),
      );
    case "CKR_SESSION_HANDLE_INVALID":
    case "CKR_SESSION_CLOSED":
      return new Pkcs11Error(
        "PKCS11_SESSION_INVALID",
        `${doing}: the session is no longer valid (${ckr})`,
        opts("unavailable"),
      );
    case "CKR_OBJECT_HANDLE_INVALID":
    case "CKR_KEY_HANDLE_INVALID":
      return new Pkcs11Error(
        "PKCS11_HANDLE_INVALID",
        `${doing}: the object is no longer on the token under this handle (${ckr})`,
        opts("unavailable"),
      );
    case "CKR_USER_NOT_LOGGED_IN":
      return new Pkcs11Error(
        "PKCS11_NOT_LOGGED_IN",
        `${doing}: the session is not logged in (CKR_USER_NOT_LOGGED_IN)`,
        opts("unavailable"),
      );
    case "CKR_MECHANISM_INVALID":
    case "CKR_MECHANISM_PARAM_INVALID":
      return new Pkcs11Error(
        "PKCS11_MECHANISM_UNSUPPORTED",
        `${doing}: the token does not support this mechanism (${ckr})`,
        opts("failed_precondition"),
      );
    case "CKR_ATTRIBUTE_SENSITIVE":
      return new Pkcs11Error(
        "PKCS11_ATTRIBUTE_SENSITIVE",
        `${doing}: the attribute is sensitive and cannot be read (CKR_ATTRIBUTE_SENSITIVE)`,
        opts("permission_denied"),
      );
    case undefined:
      return new Pkcs11Error(
        "PKCS11_FAILED",
        `${doing}: ${err instanceof Error ? err.message : String(err)}`,
        opts("internal"),
      );
    default:
      return new Pkcs11Error("PKCS11_FAILED", `${doing}: the module returned ${ckr}`, opts("internal"));
  }
}

import { HallmarkError } from "../errors.js";

export class InvalidSpiffeIdError extends HallmarkError<"INVALID_SPIFFE_ID"> {
  constructor(input: string, reason: string) {
    super("INVALID_SPIFFE_ID", `invalid SPIFFE ID ${JSON.stringify(truncate(input))}: ${reason}`, {
      category: "invalid_argument",
    });
  }
}

export class InvalidTrustDomainError extends HallmarkError<"INVALID_TRUST_DOMAIN"> {
  constructor(input: string, reason: string) {
    super("INVALID_TRUST_DOMAIN", `invalid trust domain ${JSON.stringify(truncate(input))}: ${reason}`, {
      category: "invalid_argument",
    });
  }
}

/** An X.509 certificate that is not a valid X509-SVID (or SVID signing certificate). */
export class InvalidX509SvidError extends HallmarkError<"INVALID_X509_SVID"> {
  constructor(reason: string, cause?: unknown) {
    super("INVALID_X509_SVID", `invalid X509-SVID: ${reason}`, { category: "invalid_argument", cause });
  }
}

export class InvalidBundleError extends HallmarkError<"INVALID_BUNDLE"> {
  constructor(reason: string, cause?: unknown) {
    super("INVALID_BUNDLE", `invalid SPIFFE bundle: ${reason}`, { category: "invalid_argument", cause });
  }
}

function truncate(input: string): string {
  return input.length > 120 ? `${input.slice(0, 117)}...` : input;
}

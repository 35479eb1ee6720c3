import type { IncomingMessage } from "node:http";
import { TLSSocket } from "node:tls";
import { errorMessage, HallmarkError } from "../../../common/errors.js";
import type { SpiffeId, TrustDomain } from "../../../common/spiffe/index.js";
import { validateX509Svid } from "../../../common/spiffe/x509-svid.js";

export type ClientSvidErrorCode =
  /** `/introspect` or `/revocations` was called without a client certificate. */
  | "CLIENT_SVID_REQUIRED"
  /** The client certificate does not chain to the trust bundle, or is no X509-SVID of our trust domain. */
  | "CLIENT_SVID_UNTRUSTED";

/** The caller of a path that needs mutual TLS is not a workload of the trust domain (HTTP 401). */
export class ClientSvidError extends HallmarkError<ClientSvidErrorCode> {
  constructor(code: ClientSvidErrorCode, message: string, cause?: unknown) {
    super(code, message, { category: "unauthenticated", cause });
  }
}

/**
 * The SPIFFE ID of the X509-SVID the caller presented in the TLS handshake: the chain was checked by
 * TLS against the trust bundle's X.509 authorities (the listener's `ca`; `authorized` says it held,
 * validity included), the leaf is an X509-SVID by the SPIFFE rules, and its ID is in our trust domain.
 */
export function clientSvid(req: IncomingMessage, trustDomain: TrustDomain): SpiffeId {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket))
    throw new ClientSvidError("CLIENT_SVID_REQUIRED", "mutual TLS is required and this is no TLS connection");
  const certificate = socket.getPeerCertificate();
  if (Object.keys(certificate).length === 0)
    throw new ClientSvidError(
      "CLIENT_SVID_REQUIRED",
      "this path requires mutual TLS: present an X509-SVID of the trust domain as client certificate",
    );
  if (!socket.authorized)
    throw new ClientSvidError(
      "CLIENT_SVID_UNTRUSTED",
      `the client certificate does not verify against the trust bundle (${String(socket.authorizationError)})`,
    );
  let spiffeId: SpiffeId;
  try {
    spiffeId = validateX509Svid(certificate.raw).spiffeId;
  } catch (err) {
    throw new ClientSvidError(
      "CLIENT_SVID_UNTRUSTED",
      `the client certificate is not an X509-SVID: ${errorMessage(err)}`,
      err,
    );
  }
  if (!spiffeId.memberOf(trustDomain))
    throw new ClientSvidError(
      "CLIENT_SVID_UNTRUSTED",
      `the client's SPIFFE ID ${spiffeId.toString()} is not in trust domain ${trustDomain.toString()}`,
    );
  return spiffeId;
}

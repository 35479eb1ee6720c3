import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { derToPem } from "../../../../common/spiffe/bundle.js";
import type { SpiffeId } from "../../../../common/spiffe/index.js";
import type { CaManager } from "../../../ca/ca-manager.js";
import type { ClientTls } from "./sse-client.js";

const generateEcKeyPair = promisify(generateKeyPair);

/** A client of the trust domain: an X509-SVID for `spiffeId` from `ca` on a new P-256 key, as TLS options. */
export async function clientTlsOf(ca: CaManager, spiffeId: SpiffeId): Promise<ClientTls> {
  const { publicKey, privateKey } = await generateEcKeyPair("ec", { namedCurve: "P-256" });
  const svid = await ca.issueX509Svid({ spiffeId, publicKey });
  return {
    ca: ca.bundlePem(),
    cert: [svid.certificate, ...svid.intermediates].map((der) => derToPem(der, "CERTIFICATE")).join(""),
    key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

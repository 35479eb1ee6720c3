import { timingSafeEqual } from "node:crypto";
import type { Clock } from "../../../common/clock.js";
import type { RandomSource } from "../../../common/random.js";
import {
  TpmVerificationError,
  makeCredential,
  marshalPcrSelectionList,
  nodeHashName,
  spkiFromTpmPublic,
  verifyCertify,
  verifyEk,
  verifyQuote,
  type EkTrust,
  type PcrSelection,
  type PcrValues,
  type VerifiedEkChain,
} from "../../../native/tpm/index.js";
import type { TpmAttestationRequest, TpmChallenge, TpmChallengeResponse } from "./evidence.js";

/**
 * The server half of TPM node attestation: it has no TPM, only the verifier. Two steps, one per
 * message the agent sends: `challengeTpm` judges the EK and the AK and seals a credential to them;
 * `verifyTpmResponse` checks the released credential, the quote and the certification of the
 * agent's key. Every input is the decoded wire message (bytes); every refusal a TpmVerificationError.
 */

export interface TpmAttestorPolicy {
  /** The TPM manufacturer CAs EK certificates must chain to; null when only the allow-list admits. */
  readonly ekTrust: EkTrust | null;
  /** SHA-256 hashes (hex) of EK public keys admitted without a certificate chain. */
  readonly ekHashAllowList: ReadonlySet<string>;
  /** The PCRs every quote must cover (at least one). */
  readonly pcrSelection: readonly PcrSelection[];
}

export interface TpmAttestorDeps {
  readonly random: RandomSource;
  readonly clock: Clock;
}

/** What the server keeps between its challenge and the agent's response; the agent never sees it. */
export interface PendingTpmAttestation {
  readonly ekHash: string;
  readonly akPublic: Buffer;
  readonly credential: Buffer;
  readonly nonce: Buffer;
  readonly pcrSelection: readonly PcrSelection[];
  /** Selectors proved by the EK alone (its hash, its CA and TPM model when its certificate chained). */
  readonly ekSelectors: readonly string[];
}

export interface TpmAttestationResult {
  /** The TPM's identity: the agent's SPIFFE ID path ends in it. */
  readonly ekHash: string;
  /** DER SubjectPublicKeyInfo of the agent key the AK certified: the key its SVID is issued for. */
  readonly agentKeySpki: Buffer;
  /** What was proved, as node selectors. */
  readonly selectors: readonly string[];
  readonly pcrValues: PcrValues<Buffer>;
}

/** Bytes of the credential sealed to the EK: a SHA-256 digest's worth, the most every EK nameAlg holds. */
const CREDENTIAL_BYTES = 32;
const NONCE_BYTES = 32;

/**
 * Step 1: the EK is admitted (its certificate chains to a configured manufacturer CA, or its hash is
 * allow-listed), the AK has an attestation key's attributes (makeCredential checks), and a fresh
 * credential is sealed to the EK and bound to the AK's Name.
 */
export function challengeTpm(
  request: TpmAttestationRequest,
  policy: TpmAttestorPolicy,
  deps: TpmAttestorDeps,
): { challenge: TpmChallenge; pending: PendingTpmAttestation } {
  const ek = verifyEk(request, { trust: policy.ekTrust, now: deps.clock.now() });
  if (ek.chain === null && !policy.ekHashAllowList.has(ek.ekHash)) {
    throw new TpmVerificationError(
      "EK_NOT_ALLOWED",
      request.ekCertificate === undefined
        ? `EK ${ek.ekHash} has no certificate and is not on the EK hash allow-list`
        : `EK ${ek.ekHash} is not on the EK hash allow-list, and no TPM manufacturer CA is configured to check its certificate`,
    );
  }
  const credential = deps.random.bytes(CREDENTIAL_BYTES);
  const sealed = makeCredential({
    ekPublic: request.ekPublic,
    akPublic: request.akPublic,
    credential,
    random: deps.random,
  });
  const nonce = deps.random.bytes(NONCE_BYTES);
  return {
    challenge: { ...sealed, nonce, pcrSelection: marshalPcrSelectionList(policy.pcrSelection) },
    pending: {
      ekHash: ek.ekHash,
      akPublic: request.akPublic,
      credential,
      nonce,
      pcrSelection: policy.pcrSelection,
      ekSelectors: ekSelectors(ek.ekHash, ek.chain),
    },
  };
}

/**
 * Step 2: the credential the TPM released is the one sealed (so AK and EK share a TPM), the quote
 * covers the asked PCRs over the nonce, and the AK certified the agent's key over the same nonce.
 */
export function verifyTpmResponse(
  pending: PendingTpmAttestation,
  response: TpmChallengeResponse,
): TpmAttestationResult {
  const released = response.credential;
  if (released.length !== pending.credential.length || !timingSafeEqual(released, pending.credential)) {
    throw new TpmVerificationError(
      "CREDENTIAL_MISMATCH",
      "the activated credential is not the one sealed to the EK: the AK is not in the EK's TPM",
    );
  }
  const quote = verifyQuote(
    { akPublic: pending.akPublic, ...response.quote },
    { nonce: pending.nonce, expectedSelection: pending.pcrSelection },
  );
  const certified = verifyCertify(
    { akPublic: pending.akPublic, ...response.certify },
    { nonce: pending.nonce },
  );
  return {
    ekHash: pending.ekHash,
    agentKeySpki: spkiFromTpmPublic(certified.certifiedPublic),
    selectors: [...pending.ekSelectors, ...pcrSelectors(quote.pcrValues)],
    pcrValues: quote.pcrValues,
  };
}

/** `tpm:ek_hash:<hex>`, and for a chained certificate `tpm:ek_ca:<hex>` and the TPM its SAN names. */
function ekSelectors(ekHash: string, chain: VerifiedEkChain | null): string[] {
  const selectors = [`tpm:ek_hash:${ekHash}`];
  if (chain === null) return selectors;
  selectors.push(`tpm:ek_ca:${chain.issuingCaSha256}`);
  const { manufacturer, model, version } = chain.tpm ?? {};
  if (manufacturer !== undefined) selectors.push(`tpm:manufacturer:${manufacturer}`);
  if (model !== undefined) selectors.push(`tpm:model:${model}`);
  if (version !== undefined) selectors.push(`tpm:version:${version}`);
  return selectors;
}

/** `tpm:pcr:<bank>:<index>:<hex>` for every quoted PCR. */
function pcrSelectors(values: PcrValues<Buffer>): string[] {
  const selectors: string[] = [];
  for (const [bank, pcrs] of values) {
    for (const [pcr, value] of [...pcrs].sort(([a], [b]) => a - b)) {
      selectors.push(`tpm:pcr:${nodeHashName(bank) ?? bank}:${pcr}:${value.toString("hex")}`);
    }
  }
  return selectors;
}

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { TPM_ALG, type TpmHashAlg } from "../constants.js";
import { marshalTpmsAttest, type TpmsAttest } from "../structures/attest.js";
import { marshalPcrValues } from "../structures/pcr-values.js";
import { marshalTpmtPublic, tpmObjectName, unmarshalTpmtPublic } from "../structures/public.js";
import { marshalTpmtSignature, unmarshalTpmtSignature } from "../structures/signature.js";
import { checkAgentKeyAttributes, checkAkAttributes } from "./attributes.js";
import { verifyCertify } from "./certify.js";
import { encodeToolsCredentialFile, parseIdObject, parseToolsCredentialFile } from "./credential-file.js";
import { ekHash, ekPublicFromSpki, verifyEk } from "./ek.js";
import { makeCredential } from "./make-credential.js";
import { verifyEkCertificateChain } from "./ek-chain.js";
import { EkTrust } from "./ek-trust.js";
import { verifyQuote } from "./quote.js";
import {
  basicConstraints,
  cn,
  keyUsage,
  makeCert,
  newKey,
  tpmSubjectAltName,
} from "../../../test/tpm/ek-certs.js";
import { Prng, ROUNDS, SEED, expectOnlyTyped, mutate } from "../../../test/tpm/fuzz-mutations.js";
import {
  signAsAk,
  softwareAgentKey,
  softwareAk,
  type SoftwareAk,
} from "../../../test/tpm/verifier-testing/software-ak.js";

const CLOCK = { clock: 1234n, resetCount: 1, restartCount: 0, safe: true };

describe(`fuzz the verifier (seed ${SEED})`, { timeout: 600_000 }, () => {
  const p = new Prng(SEED);
  const eccAk = softwareAk("ecc");
  const rsaAk = softwareAk("rsa");
  const nonce = p.bytes(32);
  const pcr7 = p.bytes(32);
  const pcrValues = marshalPcrValues(new Map([[TPM_ALG.SHA256, new Map([[7, pcr7]])]]));
  const quoteAttest: TpmsAttest = {
    magic: 0xff544347,
    qualifiedSigner: tpmObjectName(eccAk.pub),
    extraData: nonce,
    clockInfo: CLOCK,
    firmwareVersion: 7n,
    attested: {
      type: "quote",
      pcrSelect: [{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }],
      pcrDigest: createHash("sha256").update(pcr7).digest(),
    },
  };
  const quoteBytes = marshalTpmsAttest(quoteAttest);
  const expected = { nonce, expectedSelection: [{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }] };
  const certified = marshalTpmtPublic(softwareAgentKey());
  const certifyBytes = marshalTpmsAttest({
    ...quoteAttest,
    attested: {
      type: "certify",
      name: tpmObjectName(unmarshalTpmtPublic(certified)),
      qualifiedName: tpmObjectName(unmarshalTpmtPublic(certified)),
    },
  });
  const signed = (ak: SoftwareAk, attest: Buffer) => marshalTpmtSignature(signAsAk(ak, attest));

  it("the unmutated evidence verifies (so mutations start from a valid point)", () => {
    verifyQuote(
      { akPublic: eccAk.publicArea, attest: quoteBytes, signature: signed(eccAk, quoteBytes), pcrValues },
      expected,
    );
    verifyCertify(
      {
        akPublic: eccAk.publicArea,
        attest: certifyBytes,
        signature: signed(eccAk, certifyBytes),
        certifiedPublic: certified,
      },
      { nonce },
    );
  });

  it("mutated attestations, validly re-signed, reach the parser and fail only with typed errors", () => {
    let accepted = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const ak = i % 10 === 0 ? rsaAk : eccAk;
      const base = i % 2 === 0 ? quoteBytes : certifyBytes;
      const attest = mutate(p, base);
      const signature = signed(ak, attest);
      expectOnlyTyped(`quote #${i}`, () => {
        verifyQuote({ akPublic: ak.publicArea, attest, signature, pcrValues }, expected);
        accepted++;
      });
      expectOnlyTyped(`certify #${i}`, () =>
        verifyCertify({ akPublic: ak.publicArea, attest, signature, certifiedPublic: certified }, { nonce }),
      );
    }
    // A mutation that still verifies must still be a quote over the same nonce and PCR digest.
    assert.ok(accepted < ROUNDS / 2, `accepted ${accepted}`);
  });

  it("mutated signatures fail only with typed errors and never verify", () => {
    const good = signed(eccAk, quoteBytes);
    for (let i = 0; i < ROUNDS; i++) {
      const signature = mutate(p, good);
      expectOnlyTyped(`signature #${i}`, () => {
        verifyQuote({ akPublic: eccAk.publicArea, attest: quoteBytes, signature, pcrValues }, expected);
        // ECDSA r/s with leading zeros stripped or added is the same signature; anything else must fail.
        const parsed = unmarshalTpmtSignature(signature);
        if (!signature.equals(good) && parsed.sigAlg === "ecdsa") {
          const ref = unmarshalTpmtSignature(good) as { r: Buffer; s: Buffer };
          assert.equal(BigInt(`0x${parsed.r.toString("hex") || "0"}`), BigInt(`0x${ref.r.toString("hex")}`));
          assert.equal(BigInt(`0x${parsed.s.toString("hex") || "0"}`), BigInt(`0x${ref.s.toString("hex")}`));
        }
      });
    }
  });

  it("mutated AK and certified public areas fail only with typed errors", () => {
    const quoteSignature = signed(eccAk, quoteBytes);
    const certifySignature = signed(eccAk, certifyBytes);
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = mutate(p, eccAk.publicArea);
      expectOnlyTyped(`AK public #${i}`, () => {
        expectOnlyTyped("certify name", () =>
          verifyCertify(
            {
              akPublic: eccAk.publicArea,
              attest: certifyBytes,
              signature: certifySignature,
              certifiedPublic: bytes,
            },
            { nonce },
          ),
        );
        verifyQuote({ akPublic: bytes, attest: quoteBytes, signature: quoteSignature, pcrValues }, expected);
      });
      expectOnlyTyped(`AK public, parsed #${i}`, () => {
        const parsed = unmarshalTpmtPublic(bytes);
        expectOnlyTyped("ak attributes", () => checkAkAttributes(parsed));
        expectOnlyTyped("agent attributes", () => checkAgentKeyAttributes(parsed));
        expectOnlyTyped("ekHash", () => ekHash(parsed));
      });
    }
  });

  it("mutated and random PCR values fail only with typed errors", () => {
    const signature = signed(eccAk, quoteBytes);
    const banks = [TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512] as const;
    for (let i = 0; i < ROUNDS; i++) {
      const evidence = { akPublic: eccAk.publicArea, attest: quoteBytes, signature };
      expectOnlyTyped(`pcr values bytes #${i}`, () =>
        verifyQuote({ ...evidence, pcrValues: mutate(p, pcrValues) }, expected),
      );
      const values = new Map<TpmHashAlg, Map<number, Buffer>>();
      for (let b = p.int(3); b > 0; b--) {
        const m = new Map<number, Buffer>();
        for (let n = p.int(4); n > 0; n--) m.set(p.int(40) - 4, p.bytes(p.int(70)));
        values.set(p.pick(banks), m);
      }
      if (p.int(2) === 0) values.set(TPM_ALG.SHA256, new Map([[7, p.int(4) === 0 ? pcr7 : p.bytes(32)]]));
      expectOnlyTyped(`pcr values #${i}`, () =>
        verifyQuote({ ...evidence, pcrValues: marshalPcrValues(values) }, expected),
      );
    }
  });

  it("mutated credential files and EK public areas fail only with typed errors", () => {
    const ek = marshalTpmtPublic(
      ekPublicFromSpki(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey),
    );
    const challenge = makeCredential({
      ekPublic: ek,
      akPublic: eccAk.publicArea,
      credential: nonce,
      random: p,
    });
    const file = encodeToolsCredentialFile(challenge);
    for (let i = 0; i < ROUNDS; i++) {
      const mutated = mutate(p, file);
      expectOnlyTyped(`credential file #${i}`, () => parseToolsCredentialFile(mutated));
      expectOnlyTyped(`id object #${i}`, () => parseIdObject(mutate(p, challenge.credentialBlob)));
      const ekPublic = mutate(p, ek);
      expectOnlyTyped(`EK public #${i}`, () => {
        expectOnlyTyped("ek evidence", () =>
          verifyEk({ ekPublic, ekCertificate: p.bytes(p.int(200)) }, { trust: null, now: new Date(0) }),
        );
        makeCredential({
          ekPublic,
          akPublic: p.int(4) === 0 ? mutate(p, eccAk.publicArea) : eccAk.publicArea,
          credential: p.bytes(p.int(70)),
          random: p,
        });
      });
    }
  });

  it("mutated EK certificates and intermediates fail only with typed errors", () => {
    const root = newKey();
    const issuer = { subject: cn("Fuzz Root"), key: root };
    const rootCert = makeCert({
      ...issuer,
      notBefore: new Date(0),
      notAfter: new Date(4102444800000),
      extensions: [basicConstraints(true), keyUsage(["keyCertSign"])],
    });
    const ekCert = makeCert({
      subject: [],
      key: newKey(),
      issuer,
      notBefore: new Date(0),
      notAfter: new Date(4102444800000),
      extensions: [
        tpmSubjectAltName({ manufacturer: "id:00000000", model: "m", version: "id:1" }),
        basicConstraints(false),
      ],
    });
    const trust = EkTrust.fromCertificates([{ der: rootCert, source: "root" }]);
    const now = new Date(1e12);
    verifyEkCertificateChain(ekCert, trust, { now });
    for (let i = 0; i < ROUNDS / 10; i++) {
      expectOnlyTyped(`EK certificate #${i}`, () =>
        verifyEkCertificateChain(mutate(p, ekCert), trust, { now }),
      );
      expectOnlyTyped(`intermediate #${i}`, () =>
        verifyEkCertificateChain(ekCert, trust, { now, intermediates: [mutate(p, rootCert)] }),
      );
    }
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  TpmEvidenceError,
  decodeTpmAttestationRequest,
  decodeTpmChallenge,
  decodeTpmChallengeResponse,
  encodeTpmAttestationRequest,
  encodeTpmChallenge,
  encodeTpmChallengeResponse,
  type TpmAttestationRequest,
  type TpmChallenge,
  type TpmChallengeResponse,
} from "./evidence.js";

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

const SAMPLE = {
  request: {
    ekPublic: bytes(314, 1),
    ekCertificate: bytes(1200, 2),
    ekIntermediates: [bytes(900, 3), bytes(800, 4)],
    akPublic: bytes(88, 5),
  } satisfies TpmAttestationRequest,
  challenge: {
    credentialBlob: bytes(68, 6),
    secret: bytes(256, 7),
    nonce: bytes(32, 8),
    pcrSelection: bytes(10, 9),
  } satisfies TpmChallenge,
  response: {
    credential: bytes(32, 10),
    quote: { attest: bytes(145, 11), signature: bytes(72, 12), pcrValues: bytes(120, 13) },
    certify: { attest: bytes(160, 14), signature: bytes(72, 15), certifiedPublic: bytes(88, 16) },
  } satisfies TpmChallengeResponse,
};

/** The TpmEvidenceError `fn` throws. */
function refusal(fn: () => unknown): TpmEvidenceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TpmEvidenceError) return err;
    throw err;
  }
  return assert.fail("expected a TpmEvidenceError");
}

describe("TPM evidence wire codec", () => {
  it("round-trips each message, with and without the optional EK certificate", () => {
    assert.deepEqual(
      decodeTpmAttestationRequest(encodeTpmAttestationRequest(SAMPLE.request)),
      SAMPLE.request,
    );
    const bare = {
      ekPublic: SAMPLE.request.ekPublic,
      ekIntermediates: [],
      akPublic: SAMPLE.request.akPublic,
    };
    assert.deepEqual(decodeTpmAttestationRequest(encodeTpmAttestationRequest(bare)), bare);
    assert.deepEqual(decodeTpmChallenge(encodeTpmChallenge(SAMPLE.challenge)), SAMPLE.challenge);
    assert.deepEqual(
      decodeTpmChallengeResponse(encodeTpmChallengeResponse(SAMPLE.response)),
      SAMPLE.response,
    );
  });

  it("lays a message out as version, kind, then UINT16-sized fields in order", () => {
    const wire = encodeTpmChallenge(SAMPLE.challenge);
    assert.deepEqual([...wire.subarray(0, 4)], [1, 2, 0, 68]);
    assert.equal(wire.length, 2 + 4 * 2 + 68 + 256 + 32 + 10);
  });

  it("refuses another version, another message's kind and trailing bytes", () => {
    const wire = encodeTpmChallenge(SAMPLE.challenge);
    const v2 = Buffer.from(wire);
    v2[0] = 2;
    assert.equal(refusal(() => decodeTpmChallenge(v2)).code, "EVIDENCE_VERSION_UNSUPPORTED");
    assert.equal(refusal(() => decodeTpmChallengeResponse(wire)).code, "EVIDENCE_KIND_MISMATCH");
    const trailing = refusal(() => decodeTpmChallenge(Buffer.concat([wire, Buffer.of(0)])));
    assert.equal(trailing.code, "EVIDENCE_TRAILING_BYTES");
  });

  it("names the field a message ends inside", () => {
    const wire = encodeTpmChallengeResponse(SAMPLE.response);
    const err = refusal(() => decodeTpmChallengeResponse(wire.subarray(0, wire.length - 1)));
    assert.equal(err.code, "EVIDENCE_FIELD_INVALID");
    assert.equal(err.field, "certify.certifiedPublic");
  });

  for (const [field, message, expected] of [
    ["nonce", { ...SAMPLE.challenge, nonce: bytes(15, 1) }, /nonce is 15 bytes; it must be 16 to 64/],
    [
      "akPublic",
      { ...SAMPLE.request, akPublic: bytes(1025, 1) },
      /akPublic is 1025 bytes; it must be 1 to 1024/,
    ],
    ["ekPublic", { ...SAMPLE.request, ekPublic: Buffer.alloc(0) }, /ekPublic is 0 bytes.*required/],
    [
      "ekIntermediates",
      { ...SAMPLE.request, ekIntermediates: [1, 2, 3, 4, 5].map((n) => bytes(10, n)) },
      /ekIntermediates: 5 items, at most 4/,
    ],
    [
      "quote.pcrValues",
      { ...SAMPLE.response, quote: { ...SAMPLE.response.quote, pcrValues: bytes(8193, 1) } },
      /quote\.pcrValues is 8193 bytes/,
    ],
  ] as const) {
    it(`refuses to write or read an out-of-bounds ${field}, naming it`, () => {
      const encode =
        "nonce" in message
          ? () => encodeTpmChallenge(message)
          : "ekPublic" in message
            ? () => encodeTpmAttestationRequest(message)
            : () => encodeTpmChallengeResponse(message);
      const err = refusal(encode);
      assert.equal(err.code, "EVIDENCE_FIELD_INVALID");
      assert.equal(err.field, field);
      assert.match(err.message, expected);
    });
  }

  it("refuses on reading what it would refuse to write (a short nonce written by hand)", () => {
    const wire = encodeTpmChallenge(SAMPLE.challenge);
    // Cut the nonce to 15 bytes: its size field sits after version, kind, credentialBlob and secret.
    const at = 2 + 2 + 68 + 2 + 256;
    const short = Buffer.concat([
      wire.subarray(0, at),
      Buffer.from([0, 15]),
      wire.subarray(at + 2, at + 2 + 15),
      wire.subarray(at + 2 + 32),
    ]);
    const err = refusal(() => decodeTpmChallenge(short));
    assert.equal(err.field, "nonce");
  });

  it("refuses a parsed object where bytes belong", () => {
    const parsed = { ...SAMPLE.request, akPublic: { type: "ecc" } as unknown as Buffer };
    assert.equal(refusal(() => encodeTpmAttestationRequest(parsed)).field, "akPublic");
    assert.equal(
      refusal(() => decodeTpmChallenge("not bytes" as unknown as Buffer)).code,
      "EVIDENCE_FIELD_INVALID",
    );
  });
});

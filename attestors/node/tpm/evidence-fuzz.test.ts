import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Prng, ROUNDS, SEED, mutate } from "../../../test/tpm/fuzz-mutations.js";
import {
  TpmEvidenceError,
  decodeTpmAttestationRequest,
  decodeTpmChallenge,
  decodeTpmChallengeResponse,
  encodeTpmAttestationRequest,
  encodeTpmChallenge,
  encodeTpmChallengeResponse,
} from "./evidence.js";

/**
 * The evidence decoders, fed mutated and random bytes: each either refuses with a TpmEvidenceError
 * or decodes a message that encodes back to exactly the bytes it came from (one encoding per message,
 * so nothing can be smuggled in a second form).
 */
describe(`fuzz the TPM evidence codec (seed ${SEED})`, { timeout: 600_000 }, () => {
  const p = new Prng(SEED);
  const codecs = [
    {
      name: "request",
      decode: decodeTpmAttestationRequest,
      encode: encodeTpmAttestationRequest,
      sample: encodeTpmAttestationRequest({
        ekPublic: p.bytes(314),
        ekCertificate: p.bytes(900),
        ekIntermediates: [p.bytes(700)],
        akPublic: p.bytes(88),
      }),
    },
    {
      name: "challenge",
      decode: decodeTpmChallenge,
      encode: encodeTpmChallenge,
      sample: encodeTpmChallenge({
        credentialBlob: p.bytes(68),
        secret: p.bytes(256),
        nonce: p.bytes(32),
        pcrSelection: p.bytes(10),
      }),
    },
    {
      name: "response",
      decode: decodeTpmChallengeResponse,
      encode: encodeTpmChallengeResponse,
      sample: encodeTpmChallengeResponse({
        credential: p.bytes(32),
        quote: { attest: p.bytes(145), signature: p.bytes(72), pcrValues: p.bytes(120) },
        certify: { attest: p.bytes(160), signature: p.bytes(72), certifiedPublic: p.bytes(88) },
      }),
    },
  ] as const;

  for (const codec of codecs) {
    it(`${codec.name}: mutated messages are refused by name or decode to a message with the same encoding`, () => {
      let decoded = 0;
      for (let i = 0; i < ROUNDS; i++) {
        const bytes = i % 16 === 0 ? p.bytes(p.int(64)) : mutate(p, codec.sample);
        try {
          const message = (codec.decode as (b: Uint8Array) => unknown)(bytes);
          decoded++;
          const again = (codec.encode as (m: unknown) => Buffer)(message);
          assert.ok(
            again.equals(bytes),
            `${codec.name} #${i} decoded but re-encodes differently (seed ${SEED})`,
          );
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          assert.ok(err instanceof TpmEvidenceError, `${codec.name} #${i}: ${String(err)} (seed ${SEED})`);
        }
      }
      // Byte flips inside a field leave the message well-formed: some mutations must decode.
      assert.ok(decoded > 0, `no mutation of the ${codec.name} decoded`);
    });

    it(`${codec.name}: every other decoder refuses it (a message cannot pass for another kind)`, () => {
      for (const other of codecs) {
        if (other === codec) continue;
        assert.throws(() => (other.decode as (b: Uint8Array) => unknown)(codec.sample), TpmEvidenceError);
      }
    });
  }
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { ekHash } from "../../native/tpm/index.js";
import { decodeTpmChallengeResponse, encodeTpmChallengeResponse } from "../../attestors/node/tpm/evidence.js";
import { SpiffeId } from "../../common/spiffe/index.js";
import { NodeApiHarness, startHost, type TestHost } from "./node-api-harness.js";
import { failureOf, refusal, type CallFailure, type TestAgent } from "./test-agent.js";

/**
 * AttestAgent end to end: swtpm hosts, the agent half of attestors/node/tpm driving the node API over
 * TLS, SoftHSM2 under the CA, SQLite. Host A's EK chains to a configured manufacturer CA; host B has
 * no EK certificate but its EK hash is allow-listed; host C's EK chains to a CA nobody configured.
 */
describe("node API: AttestAgent (swtpm, SoftHSM2, SQLite)", () => {
  let a: TestHost;
  let b: TestHost;
  let c: TestHost;
  let server: NodeApiHarness;
  let client: TestAgent;

  before(async () => {
    a = await startHost();
    b = await startHost({ ekCertificates: false });
    c = await startHost();
    server = await NodeApiHarness.start(
      { ekCaBundlePaths: [a.conn.sw.ekCaBundlePath], ekHashAllowlist: [ekHash(b.ek.public)] },
      { attestationStepTimeoutMs: 3000 },
    );
    client = server.agent();
  });
  after(async () => {
    client?.close();
    await server?.stop();
    await a?.stop();
    await b?.stop();
    await c?.stop();
  });

  async function lastAudit() {
    return (await server.auditEvents()).at(-1);
  }

  it("issues the agent an X509-SVID for its TPM-held key, named by its EK hash, and records the node", async () => {
    const svid = await client.attest(a);
    const expectedId = `spiffe://example.org/hallmark/agent/tpm/${ekHash(a.ek.public)}`;
    assert.equal(svid.spiffeId, expectedId);
    const leaf = new X509Certificate(svid.certChain[0] as Buffer);
    assert.ok(leaf.subjectAltName?.includes(`URI:${expectedId}`));
    const root = new X509Certificate(server.ca.bundle.x509Authorities[0] as Buffer);
    assert.ok(leaf.verify(root.publicKey), "the SVID chains to the bundle");
    assert.ok(svid.selectors.includes(`tpm:ek_hash:${ekHash(a.ek.public)}`));
    const node = await server.datastore.getAttestedNode(SpiffeId.parse(expectedId));
    assert.equal(node?.svidSerial, svid.serial);
    assert.ok(node?.agentKey.equals(leaf.publicKey.export({ type: "spki", format: "der" })));
    const audit = await server.auditEvents();
    assert.ok(
      audit.some((e) => e.type === "attestation" && e.result === "accepted" && e.agentId === expectedId),
    );
    assert.ok(audit.some((e) => e.type === "svid_issued" && e.serial === svid.serial));
  });

  it("gives the same TPM the same ID when it attests again, with a new SVID", async () => {
    const first = await client.attest(a);
    const second = await client.attest(a);
    assert.equal(second.spiffeId, first.spiffeId);
    assert.notEqual(second.serial, first.serial);
    const node = await server.datastore.getAttestedNode(SpiffeId.parse(second.spiffeId));
    assert.equal(node?.svidSerial, second.serial);
  });

  it("gives another TPM (admitted by the EK hash allow-list) another ID", async () => {
    const svidA = await client.attest(a);
    const svidB = await client.attest(b);
    assert.notEqual(svidB.spiffeId, svidA.spiffeId);
    assert.equal(svidB.spiffeId, `spiffe://example.org/hallmark/agent/tpm/${ekHash(b.ek.public)}`);
  });

  it("refuses an EK certificate from a CA it does not trust, and audits why", async () => {
    const failure = await refusal(client.attest(c));
    assert.equal(failure.errorCode, "EK_CHAIN_SIGNATURE_INVALID");
    const audit = await lastAudit();
    assert.equal(audit?.type, "attestation");
    assert.equal(audit.type === "attestation" && audit.result, "refused");
    assert.equal(audit.type === "attestation" && audit.reason, "EK_CHAIN_SIGNATURE_INVALID");
  });

  it("refuses an EK neither certified nor allow-listed", async () => {
    const uncertified = { ...c, ek: { ...c.ek, certificate: null } };
    const failure = await refusal(client.attest(uncertified));
    assert.equal(failure.code, status.PERMISSION_DENIED);
    assert.equal(failure.errorCode, "EK_NOT_ALLOWED");
    const audit = await lastAudit();
    assert.equal(audit?.type === "attestation" && audit.reason, "EK_NOT_ALLOWED");
  });

  it("refuses an EK certificate whose key is not the EK presented", async () => {
    // C's EK with A's certificate, which chains to a trusted CA.
    const mismatched = { ...c, ek: { ...c.ek, certificate: a.ek.certificate } };
    const failure = await refusal(client.attest(mismatched));
    assert.equal(failure.errorCode, "EK_CERTIFICATE_KEY_MISMATCH");
    const audit = await lastAudit();
    assert.equal(audit?.type === "attestation" && audit.reason, "EK_CERTIFICATE_KEY_MISMATCH");
  });

  it("refuses a quote whose PCR values were changed", async () => {
    const failure = await refusal(
      client.attest(a, (encoded) => {
        const response = decodeTpmChallengeResponse(encoded);
        const pcrValues = Buffer.from(response.quote.pcrValues);
        pcrValues[pcrValues.length - 1] = (pcrValues[pcrValues.length - 1] as number) ^ 1;
        return encodeTpmChallengeResponse({ ...response, quote: { ...response.quote, pcrValues } });
      }),
    );
    assert.equal(failure.errorCode, "PCR_DIGEST_MISMATCH");
    const audit = await lastAudit();
    assert.equal(audit?.type === "attestation" && audit.reason, "PCR_DIGEST_MISMATCH");
  });

  it("refuses PCRs outside the configured pcr_policy", async () => {
    const strict = await server.anotherApi({ pcrPolicy: new Map([[0, ["ab".repeat(32)]]]) });
    const strictClient = server.agent(strict);
    try {
      const failure = await refusal(strictClient.attest(a));
      assert.equal(failure.code, status.PERMISSION_DENIED);
      assert.equal(failure.errorCode, "PCR_POLICY_MISMATCH");
      const audit = await lastAudit();
      assert.equal(audit?.type === "attestation" && audit.reason, "PCR_POLICY_MISMATCH");
    } finally {
      strictClient.close();
      await strict.stop();
    }
  });

  it("refuses a wrong activated secret", async () => {
    const failure = await refusal(
      client.attest(a, (encoded) => {
        const response = decodeTpmChallengeResponse(encoded);
        const credential = Buffer.from(response.credential);
        credential[0] = (credential[0] as number) ^ 1;
        return encodeTpmChallengeResponse({ ...response, credential });
      }),
    );
    assert.equal(failure.errorCode, "CREDENTIAL_MISMATCH");
    const audit = await lastAudit();
    assert.equal(audit?.type === "attestation" && audit.reason, "CREDENTIAL_MISMATCH");
    assert.equal(audit?.type === "attestation" && audit.ekHash, ekHash(a.ek.public));
  });

  it("refuses an answer to an old nonce", async () => {
    // The answer to a first attestation, kept; a second attestation gets it back (its own credential
    // released, so only the nonce in the quote and certification is old).
    let old: Buffer | undefined;
    await client.attest(a, (encoded) => (old = encoded));
    const failure = await refusal(
      client.attest(a, (fresh) =>
        encodeTpmChallengeResponse({
          ...decodeTpmChallengeResponse(old as Buffer),
          credential: decodeTpmChallengeResponse(fresh).credential,
        }),
      ),
    );
    assert.equal(failure.errorCode, "QUOTE_NONCE_MISMATCH");
    const audit = await lastAudit();
    assert.equal(audit?.type === "attestation" && audit.reason, "QUOTE_NONCE_MISMATCH");
  });

  it("refuses a banned agent until it is unbanned", async () => {
    const svid = await client.attest(a);
    const id = SpiffeId.parse(svid.spiffeId);
    const banned = await server.datastore.setNodeBanned(id, true);
    await server.view.waitFor(banned.revision);
    try {
      const failure = await refusal(client.attest(a));
      assert.equal(failure.code, status.PERMISSION_DENIED);
      assert.equal(failure.errorCode, "AGENT_BANNED");
      const audit = await lastAudit();
      assert.equal(audit?.type === "attestation" && audit.reason, "AGENT_BANNED");
      assert.equal(audit?.type === "attestation" && audit.agentId, svid.spiffeId);
    } finally {
      const unbanned = await server.datastore.setNodeBanned(id, false);
      await server.view.waitFor(unbanned.revision);
    }
    assert.equal((await client.attest(a)).spiffeId, svid.spiffeId);
  });

  it("drops a stream left half-way once the step's deadline passes, and audits it", async () => {
    const stream = client.attestStream();
    const failure = await new Promise<CallFailure>((resolve) => {
      stream.on("error", (err) => resolve(failureOf(err as ServiceError)));
      stream.on("data", () => undefined);
    });
    assert.equal(failure.code, status.DEADLINE_EXCEEDED);
    const audit = await lastAudit();
    assert.equal(audit?.type === "attestation" && audit.reason, "STEP_TIMEOUT");
  });

  it("answers malformed attestation messages with a typed error and keeps serving", async () => {
    for (const step of [undefined, { $case: "attestationRequest" as const, value: Buffer.from("garbage") }]) {
      const stream = client.attestStream();
      const failure = await new Promise<CallFailure>((resolve) => {
        stream.on("error", (err) => resolve(failureOf(err as ServiceError)));
        stream.on("data", () => undefined);
        stream.write({ step });
      });
      assert.equal(failure.code, status.INVALID_ARGUMENT, JSON.stringify(failure));
    }
    assert.ok((await client.attest(a)).spiffeId.endsWith(ekHash(a.ek.public)));
  });
});

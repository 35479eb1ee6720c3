import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import {
  agentKeyTemplateEccP256,
  akTemplateEccP256,
  ekHash,
  quotePcrs,
  unmarshalPcrSelectionList,
  type TpmtPublic,
} from "../../native/tpm/index.js";
import type { ObjectAttributeName } from "../../native/tpm/structures/public.js";
import { SCHEME_NULL } from "../../native/tpm/structures/public.js";
import { decodeTpmChallengeResponse, encodeTpmChallengeResponse } from "../../attestors/node/tpm/evidence.js";
import { NodeApiHarness, startHost, type TestHost } from "./node-api-harness.js";
import { refusal, type TestAgent } from "./test-agent.js";

/** `template` with the given object attributes set or cleared. */
function withAttributes(
  template: TpmtPublic,
  changes: Partial<Record<ObjectAttributeName, boolean>>,
): TpmtPublic {
  return { ...template, objectAttributes: { ...template.objectAttributes, ...changes } };
}

/** A duplicable key: the TPM requires fixedParent clear whenever fixedTPM is. */
const duplicable = { fixedTPM: false, fixedParent: false };

/**
 * AttestAgent refuses keys of the wrong kind, made for real on swtpm with changed templates and
 * presented by the agent half of attestors/node/tpm: each host's EK is allow-listed, so only its
 * key is at fault. The audit log names the verifier's reason.
 */
describe("node API: AttestAgent refuses AKs and agent keys of the wrong kind (swtpm)", () => {
  let good: TestHost;
  let other: TestHost;
  let hosts: Record<"akDuplicable" | "akUnrestricted" | "agentKeyDuplicable" | "agentKeyDecrypt", TestHost>;
  let server: NodeApiHarness;
  let client: TestAgent;

  before(async () => {
    const noCert = { ekCertificates: false };
    good = await startHost(noCert);
    other = await startHost(noCert);
    hosts = {
      akDuplicable: await startHost(noCert, { ak: withAttributes(akTemplateEccP256(), duplicable) }),
      akUnrestricted: await startHost(noCert, {
        ak: withAttributes(akTemplateEccP256(), { restricted: false }),
      }),
      agentKeyDuplicable: await startHost(noCert, {
        agentKey: withAttributes(agentKeyTemplateEccP256(), duplicable),
      }),
      // A key that signs and decrypts must leave its scheme open (TPM 2.0 Part 2, TPMT_PUBLIC).
      agentKeyDecrypt: await startHost(noCert, {
        agentKey: {
          ...withAttributes(agentKeyTemplateEccP256(), { decrypt: true }),
          parameters: { ...agentKeyTemplateEccP256().parameters, scheme: SCHEME_NULL },
        } as TpmtPublic,
      }),
    };
    const all = [good, other, ...Object.values(hosts)];
    server = await NodeApiHarness.start({
      ekCaBundlePaths: [],
      ekHashAllowlist: all.map((h) => ekHash(h.ek.public)),
    });
    client = server.agent();
  });
  after(async () => {
    client?.close();
    await server?.stop();
    for (const host of [good, other, ...Object.values(hosts ?? {})]) await host?.stop();
  });

  /**
   * The AK is judged with the first message, before the EK has earned an audit entry (so the event
   * carries no EK hash); the agent key is judged with the answer, after the EK was accepted.
   */
  async function refusedWith(
    host: TestHost,
    reason: string,
    field: string,
    step: "request" | "answer",
  ): Promise<void> {
    const failure = await refusal(client.attest(host));
    assert.equal(failure.code, status.PERMISSION_DENIED);
    assert.equal(failure.errorCode, reason);
    assert.match(failure.details, new RegExp(`${field} is (set|clear)`));
    const audit = (await server.auditEvents()).at(-1);
    assert.equal(audit?.type === "attestation" && audit.result, "refused");
    assert.equal(audit?.type === "attestation" && audit.reason, reason);
    const audited = audit?.type === "attestation" ? audit.ekHash : null;
    assert.equal(audited, step === "answer" ? ekHash(host.ek.public) : undefined);
  }

  it("attests the host with standard keys (the refusals below are the keys' fault)", async () => {
    assert.ok((await client.attest(good)).spiffeId.endsWith(ekHash(good.ek.public)));
  });

  it("refuses an AK that is not fixedTPM", async () => {
    await refusedWith(hosts.akDuplicable, "AK_ATTRIBUTE_INVALID", "fixedTPM", "request");
  });

  it("refuses an AK that is not restricted", async () => {
    await refusedWith(hosts.akUnrestricted, "AK_ATTRIBUTE_INVALID", "restricted", "request");
  });

  it("refuses an agent key that is not fixedTPM", async () => {
    await refusedWith(hosts.agentKeyDuplicable, "AGENT_KEY_ATTRIBUTE_INVALID", "fixedTPM", "answer");
  });

  it("refuses an agent key that can decrypt", async () => {
    await refusedWith(hosts.agentKeyDecrypt, "AGENT_KEY_ATTRIBUTE_INVALID", "decrypt", "answer");
  });

  it("refuses a quote signed by another AK than the one presented", async () => {
    const failure = await refusal(
      client.attest(good, async (encoded, challenge) => {
        const quote = await quotePcrs(other.tpm, {
          akHandle: other.ak.handle,
          nonce: challenge.nonce,
          selection: unmarshalPcrSelectionList(challenge.pcrSelection),
        });
        return encodeTpmChallengeResponse({ ...decodeTpmChallengeResponse(encoded), quote: quote.evidence });
      }),
    );
    assert.equal(failure.code, status.PERMISSION_DENIED);
    assert.equal(failure.errorCode, "QUOTE_SIGNATURE_INVALID");
    const audit = (await server.auditEvents()).at(-1);
    assert.equal(audit?.type === "attestation" && audit.reason, "QUOTE_SIGNATURE_INVALID");
    assert.equal(audit?.type === "attestation" && audit.ekHash, ekHash(good.ek.public));
  });
});

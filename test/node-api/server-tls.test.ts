import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { ManualClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import { ServerTlsIdentity } from "../../server/api/node/server-tls-identity.js";
import { NodeApiHarness } from "./node-api-harness.js";
import { TestAgent, refusal } from "./test-agent.js";

/** The node API's own TLS identity: what it presents, how agents check it, and its renewal. */
describe("node API TLS: the server's X509-SVID", () => {
  let server: NodeApiHarness;
  before(async () => {
    server = await NodeApiHarness.start({ ekCaBundlePaths: [], ekHashAllowlist: ["a".repeat(64)] });
  });
  after(() => server?.stop());

  it("presents spiffe://<td>/hallmark/server, which an agent checks against its bundle", async () => {
    assert.equal(server.api.serverId, "spiffe://example.org/hallmark/server");
    const client = server.agent();
    try {
      assert.equal((await client.challenge()).nonce.length, 32);
    } finally {
      client.close();
    }
  });

  it("is refused by an agent that expects another SPIFFE ID", async () => {
    const client = new TestAgent(server.api.port, server.ca.bundle, "spiffe://example.org/not-the-server");
    try {
      assert.equal((await refusal(client.challenge())).code, status.UNAVAILABLE);
    } finally {
      client.close();
    }
  });

  it("renews its certificate, with a new key, at half-life", async () => {
    const clock = new ManualClock(Date.now());
    const logger = createLogger({ name: "tls-test", level: "silent" });
    const identity = await ServerTlsIdentity.start(
      { caManager: server.ca, trustDomain: server.config.trustDomain, clock, logger },
      { ttlMs: 600_000 },
    );
    try {
      const updates: { certificate: Buffer; privateKey: Buffer }[] = [];
      let renewed: () => void = () => undefined;
      const second = new Promise<void>((resolve) => (renewed = resolve));
      identity.addIdentityCertificateListener((update) => {
        if (update === null) return;
        updates.push(update);
        if (updates.length === 2) renewed();
      });
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(updates.length, 1);
      const issued = new X509Certificate(updates[0]?.certificate as Buffer);
      const notBefore = Date.parse(issued.validFrom);
      const halfLife = notBefore + (Date.parse(issued.validTo) - notBefore) / 2;
      clock.set(halfLife - 5000);
      assert.equal(clock.pendingTimers, 1, "the renewal waits for half-life");
      clock.set(halfLife + 5000);
      await second;
      const [first, next] = updates.map((u) => new X509Certificate(u.certificate));
      assert.notEqual(first?.serialNumber, next?.serialNumber);
      assert.ok(!updates[0]?.privateKey.equals(updates[1]?.privateKey as Buffer), "a new key");
      assert.match(next?.subjectAltName ?? "", /URI:spiffe:\/\/example\.org\/hallmark\/server/);
    } finally {
      identity.stop();
    }
  });
});

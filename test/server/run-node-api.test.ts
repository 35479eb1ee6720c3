import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { TrustDomain, parseBundle } from "../../common/spiffe/index.js";
import { startHost, type TestHost } from "../node-api/node-api-harness.js";
import { CallFailure, TestAgent } from "../node-api/test-agent.js";
import { freePort } from "../fixtures/processes.js";
import { TRUST_DOMAIN, startServerProcess, type ServerProcess } from "./server-process.js";

/**
 * `hallmark-server run` as an operator starts it: the node API is part of it. A host with an swtpm
 * whose EK certificate comes from the configured manufacturer CA joins; the admin CLI then sees
 * the agent, and a ban keeps it out.
 */
describe("hallmark-server run serves the node API", () => {
  let host: TestHost;
  let server: ServerProcess;
  let port: number;

  before(async () => {
    host = await startHost();
    port = await freePort();
    server = await startServerProcess({ nodeApiPort: port, ekCaBundlePath: host.conn.sw.ekCaBundlePath });
  });

  after(async () => {
    await server?.stop();
    await host?.stop();
  });

  async function agent(): Promise<TestAgent> {
    const shown = await server.cli(["bundle", "show", "--format", "spiffe"]);
    assert.equal(shown.code, 0, shown.stderr);
    const bundle = parseBundle(TrustDomain.parse(TRUST_DOMAIN), shown.stdout);
    return new TestAgent(port, bundle, `spiffe://${TRUST_DOMAIN}/hallmark/server`);
  }

  /** The node API starts after the admin socket: retry the first call until it listens (bounded). */
  async function attestOnceListening(client: TestAgent) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await client.attest(host);
      } catch (err) {
        if (!(err instanceof CallFailure) || err.code !== Number(status.UNAVAILABLE) || attempt >= 100)
          throw err;
        await delay(100);
      }
    }
  }

  it("a host attests, the CLI lists its agent, and a banned host is refused", async () => {
    const client = await agent();
    try {
      const svid = await attestOnceListening(client);
      const agentId = svid.spiffeId;
      assert.match(agentId, new RegExp(`^spiffe://${TRUST_DOMAIN}/hallmark/agent/tpm/[0-9a-f]{64}$`));

      const listed = await server.cli(["agent", "list", "--output", "json"]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok(listed.stdout.includes(agentId), listed.stdout);

      const banned = await server.cli(["agent", "ban", "--spiffe-id", agentId]);
      assert.equal(banned.code, 0, banned.stderr);
      await assert.rejects(client.attest(host), (err: unknown) => {
        assert.ok(err instanceof CallFailure);
        assert.equal(err.code, Number(status.PERMISSION_DENIED));
        return true;
      });
    } finally {
      client.close();
    }
  });
});

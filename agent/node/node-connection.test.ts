import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import { systemClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import { NodeApiHarness } from "../../test/node-api/node-api-harness.js";
import { NodeApiError, unaryCall } from "./node-api-error.js";
import { NodeConnection, channelOptions } from "./node-connection.js";

const serverId = "spiffe://example.org/hallmark/server";

describe("the node API channel's options", () => {
  it("names the trust domain as the TLS server name for a target given as an IP address, v4 or v6", () => {
    for (const target of ["127.0.0.1:8081", "[::1]:8081", "10.0.0.7"]) {
      assert.equal(channelOptions(target, serverId)["grpc.ssl_target_name_override"], "example.org", target);
    }
  });

  it("leaves the server name of a target given by name alone, and always keeps a subchannel pool of its own", () => {
    for (const target of ["hallmark.example.org:8081", "localhost:8081", "server"]) {
      const options = channelOptions(target, serverId);
      assert.equal(options["grpc.ssl_target_name_override"], undefined, target);
      assert.equal(options["grpc.use_local_subchannel_pool"], 1);
    }
    assert.equal(channelOptions("127.0.0.1:8081", serverId)["grpc.use_local_subchannel_pool"], 1);
  });
});

describe("NodeConnection to a server at an IP address (real node API, SoftHSM2)", () => {
  let server: NodeApiHarness;
  before(async () => {
    server = await NodeApiHarness.start({ ekCaBundlePaths: [], ekHashAllowlist: ["a".repeat(64)] });
  });
  after(() => server?.stop());

  const challenge = async (expectedServerId: string): Promise<Buffer> => {
    const connection = new NodeConnection({
      target: `127.0.0.1:${server.api.port}`,
      serverId: expectedServerId,
      trust: { kind: "bundle", bundle: server.ca.bundle },
      signer: { sign: () => Promise.reject(new Error("no signing here")) },
      clock: systemClock,
      logger: createLogger({ name: "connection-test", level: "silent" }),
    });
    try {
      const { nonce } = await unaryCall<{ nonce: Buffer }>((cb) =>
        connection.client.getPossessionChallenge({}, new Metadata(), connection.callOptions(), cb),
      );
      return nonce;
    } finally {
      connection.close();
    }
  };

  it("still checks the server's SPIFFE ID: the right one connects, another is refused", async () => {
    assert.equal((await challenge(server.api.serverId)).length, 32);
    await assert.rejects(
      challenge("spiffe://example.org/not-the-server"),
      (err: unknown) => err instanceof NodeApiError && err.grpcCode === 14,
    );
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readExchangeForm } from "./exchange-form.js";

/** A real HTTP server whose handler reads the form and hands the outcome to the test. */
describe("readExchangeForm", () => {
  let server: Server;
  let port: number;
  let outcome: Promise<URLSearchParams>;
  let arrived: (req: IncomingMessage) => void;
  before(async () => {
    server = createServer((req, res) => {
      arrived(req);
      outcome.then(
        () => res.end(),
        () => res.end(),
      );
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  /** Sends a request and returns what readExchangeForm made of it; `cut` ends the connection mid-body. */
  function send(
    headers: Record<string, string>,
    body: string | Buffer,
    cut = false,
  ): Promise<URLSearchParams> {
    const req = request({ port, host: "127.0.0.1", method: "POST", headers });
    const read = new Promise<URLSearchParams>((resolve, reject) => {
      arrived = (incoming) => {
        readExchangeForm(incoming, 1024).then(resolve, reject);
        // Gone once the server is reading: what a client that dies mid-upload looks like.
        if (cut) req.destroy();
      };
    });
    outcome = read;
    req.on("error", () => undefined);
    req.on("response", (res) => res.resume());
    if (cut) req.write(body);
    else req.end(body);
    return read;
  }

  it("reads a UTF-8 form, with or without a charset parameter", async () => {
    for (const type of [
      "application/x-www-form-urlencoded",
      "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
      'application/x-www-form-urlencoded;charset="utf-8"',
    ]) {
      const form = await send({ "Content-Type": type }, "a=1&b=%C3%A9");
      assert.equal(form.get("b"), "é", type);
    }
  });

  it("refuses another media type or charset before reading", async () => {
    for (const type of [
      "application/json",
      "text/plain",
      "application/x-www-form-urlencoded; charset=latin1",
    ]) {
      await assert.rejects(send({ "Content-Type": type }, "a=1"), { code: "EXCHANGE_CONTENT_TYPE" }, type);
    }
    await assert.rejects(send({}, "a=1"), { code: "EXCHANGE_CONTENT_TYPE" });
  });

  it("refuses a body over the bound, declared or streamed", async () => {
    const type = { "Content-Type": "application/x-www-form-urlencoded" };
    await assert.rejects(send(type, "a=" + "x".repeat(2000)), { code: "EXCHANGE_BODY_TOO_LARGE" });
    await assert.rejects(send({ ...type, "Transfer-Encoding": "chunked" }, "a=" + "x".repeat(2000)), {
      code: "EXCHANGE_BODY_TOO_LARGE",
    });
  });

  it("refuses a body that is not UTF-8, and one the client stopped sending", async () => {
    const type = { "Content-Type": "application/x-www-form-urlencoded" };
    await assert.rejects(send(type, Buffer.from([0x61, 0x3d, 0xff])), { code: "EXCHANGE_BODY_MALFORMED" });
    await assert.rejects(send({ ...type, "Content-Length": "500" }, "a=1", true), {
      code: "EXCHANGE_BODY_MALFORMED",
    });
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger } from "./logger.js";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    text: () => chunks.join(""),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe("createLogger", () => {
  it("writes JSON lines with the component name and level filtering", () => {
    const out = capture();
    const log = createLogger({ name: "server", level: "warn", destination: out.stream });
    log.info("hidden");
    log.warn({ entry: "e1" }, "shown");
    const lines = out.lines();
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.name, "server");
    assert.equal(lines[0]?.msg, "shown");
    assert.equal(lines[0]?.entry, "e1");
  });

  it("never writes a PIN, token or private key, even nested", () => {
    const out = capture();
    const log = createLogger({ name: "server", destination: out.stream });
    log.info(
      { pin: "123456", pkcs11: { pin: "654321" }, token: "eyJhbGciOi", svid: { private_key: "MIGH" } },
      "cfg",
    );
    const text = out.text();
    for (const secret of ["123456", "654321", "eyJhbGciOi", "MIGH"])
      assert.ok(!text.includes(secret), secret);
    assert.match(text, /\[redacted\]/);
  });

  it("pretty-prints for people when asked", () => {
    const out = capture();
    const log = createLogger({ name: "agent", format: "pretty", destination: out.stream });
    log.info("hello there");
    assert.match(out.text(), /INFO.*hello there/);
    assert.throws(() => JSON.parse(out.text()) as unknown);
  });
});

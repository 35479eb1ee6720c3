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

describe("redaction at any depth", () => {
  it("redacts req.headers.authorization and secrets nested deep in requests and configs", () => {
    const out = capture();
    const log = createLogger({ name: "server", destination: out.stream });
    log.info(
      {
        req: { headers: { authorization: "Bearer eyJSECRET1", "x-trace": "t-1" } },
        config: {
          key_manager: { pkcs11: { module: "/usr/lib/softhsm/libsofthsm2.so", user_pin: "SECRET2" } },
        },
        exchange: { body: { form: { subject_token: "SECRET3", actor_token: "SECRET4", scope: "read" } } },
        list: [{ deeper: { clientSecret: "SECRET5" } }],
        svid: { privateKey: "SECRET6", spiffe_id: "spiffe://td/w" },
        headers: [["cookie", "x"], { Cookie: "SECRET7" }],
      },
      "request",
    );
    const text = out.text();
    for (let i = 1; i <= 7; i++) assert.ok(!text.includes(`SECRET${i}`), `SECRET${i} leaked: ${text}`);
    const [line] = out.lines();
    const req = line?.req as { headers: Record<string, string> };
    assert.equal(req.headers.authorization, "[redacted]");
    assert.equal(req.headers["x-trace"], "t-1", "what is not secret stays readable");
    assert.match(text, /spiffe:\/\/td\/w/);
    assert.match(text, /libsofthsm2/);
  });

  it("keeps where a secret comes from readable (pin_file, pin_env)", () => {
    const out = capture();
    const log = createLogger({ name: "server", destination: out.stream });
    log.info({ pkcs11: { pin_env: "HSM_PIN", pin_file: "/etc/hallmark/pin" } }, "cfg");
    assert.match(out.text(), /HSM_PIN/);
    assert.match(out.text(), /\/etc\/hallmark\/pin/);
  });

  it("redacts a child logger's bindings and an error's own fields, keeping the error readable", () => {
    const out = capture();
    const log = createLogger({ name: "agent", destination: out.stream }).child({
      session: { token: "SECRET8" },
    });
    const err = Object.assign(new Error("exchange failed"), {
      code: "E_X",
      request: { password: "SECRET9" },
    });
    log.error({ err }, "boom");
    const text = out.text();
    assert.ok(!text.includes("SECRET8") && !text.includes("SECRET9"), text);
    const [line] = out.lines();
    const logged = line?.err as Record<string, unknown>;
    assert.equal(logged.message, "exchange failed");
    assert.equal(logged.type, "Error");
    assert.equal(logged.code, "E_X");
    assert.match(String(logged.stack), /exchange failed/);
  });

  it("survives cycles and absurd nesting without leaking", () => {
    const out = capture();
    const log = createLogger({ name: "agent", destination: out.stream });
    const cyclic: Record<string, unknown> = { name: "c" };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = { token: "SECRET10" };
    for (let i = 0; i < 50; i++) deep = { next: deep };
    log.info({ cyclic, deep }, "odd");
    assert.ok(!out.text().includes("SECRET10"));
    assert.match(out.text(), /circular/i);
  });
});

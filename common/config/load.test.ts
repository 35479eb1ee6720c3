import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError, loadConfigFile, parseConfig } from "./load.js";
import { duration, logLevel, port } from "./schema.js";

const schema = z.strictObject({
  trust_domain: z.string(),
  bind_port: port.default(8081),
  log_level: logLevel.default("info"),
  default_x509_svid_ttl: duration({ min: "1m", max: "24h" }).prefault("1h"),
  key_manager: z
    .strictObject({
      pkcs11: z.strictObject({ module: z.string(), token_label: z.string() }),
    })
    .optional(),
});

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, "CONFIG_INVALID");
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("parseConfig", () => {
  it("applies defaults and parses durations to milliseconds", () => {
    const cfg = parseConfig("trust_domain: example.org\n", schema, "server.yaml");
    assert.deepEqual(cfg, {
      trust_domain: "example.org",
      bind_port: 8081,
      log_level: "info",
      default_x509_svid_ttl: 3_600_000,
    });
    assert.equal(
      parseConfig("trust_domain: a\ndefault_x509_svid_ttl: 90m\n", schema, "x").default_x509_svid_ttl,
      5_400_000,
    );
  });

  it("names an unknown key by its full path", () => {
    const problems = problemsOf(() =>
      parseConfig(
        "trust_domain: a\nkey_manager:\n  pkcs11:\n    module: /m.so\n    token_label: t\n    pin: '1234'\n",
        schema,
        "server.yaml",
      ),
    );
    assert.deepEqual(problems, ["key_manager.pkcs11.pin: unknown key"]);
  });

  it("names a top-level unknown key", () => {
    assert.deepEqual(
      problemsOf(() => parseConfig("trust_domain: a\nbind_prot: 1\n", schema, "s")),
      ["bind_prot: unknown key"],
    );
  });

  it("reports a bad duration and a value out of bounds with the key", () => {
    const problems = problemsOf(() =>
      parseConfig("trust_domain: a\ndefault_x509_svid_ttl: 300\n", schema, "s"),
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /^default_x509_svid_ttl: invalid duration "300"/);
    assert.match(
      problemsOf(() => parseConfig("trust_domain: a\ndefault_x509_svid_ttl: 48h\n", schema, "s"))[0] ?? "",
      /at most 24h/,
    );
  });

  it("reports missing required keys and wrong types", () => {
    const problems = problemsOf(() => parseConfig("bind_port: high\n", schema, "s"));
    assert.ok(
      problems.some((p) => p.startsWith("trust_domain:")),
      problems.join(),
    );
    assert.ok(
      problems.some((p) => p.startsWith("bind_port:")),
      problems.join(),
    );
  });

  it("refuses malformed YAML and duplicate keys, naming the file", () => {
    assert.throws(() => parseConfig("trust_domain: [a\n", schema, "bad.yaml"), /bad\.yaml/);
    assert.throws(
      () => parseConfig("trust_domain: a\ntrust_domain: b\n", schema, "dup.yaml"),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /dup\.yaml: .*unique/i);
        return true;
      },
    );
  });
});

describe("loadConfigFile", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hallmark-config-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a real file", async () => {
    const path = join(dir, "server.yaml");
    await writeFile(path, "trust_domain: example.org\nbind_port: 9000\n");
    const cfg = await loadConfigFile(path, schema);
    assert.equal(cfg.bind_port, 9000);
  });

  it("says when the file does not exist", async () => {
    await assert.rejects(loadConfigFile(join(dir, "missing.yaml"), schema), /missing\.yaml: file not found/);
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runOk } from "../../test/fixtures/processes.js";
import { startSwtpm, type SwtpmFixture } from "../../test/fixtures/swtpm.js";
import { startTcpRelay } from "../../test/tpm/transport-doubles.js";
import { toolsTransientHandles } from "../../test/tpm/swtpm-connection.js";
import { buildTpmCommand } from "./tpm.js";

async function identify(args: string[]): Promise<string> {
  let out = "";
  const cmd = buildTpmCommand({ out: { write: (c) => void (out += c) } });
  cmd.exitOverride();
  await cmd.parseAsync(["identify", ...args], { from: "user" });
  return out;
}

/** sha256 of the DER SubjectPublicKeyInfo in the EK certificate, the openssl way. */
async function opensslCertKeyHash(sw: SwtpmFixture, index: number): Promise<string> {
  const der = join(sw.dir, `ekcert-${index.toString(16)}.der`);
  await runOk("tpm2_nvread", ["-o", der, `0x${index.toString(16)}`], { env: sw.toolsEnv });
  const { stdout } = await runOk("sh", [
    "-c",
    `openssl x509 -inform der -in '${der}' -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`,
  ]);
  return stdout.split(" ")[0] as string;
}

describe("hallmark-agent tpm identify (swtpm with EK certificates)", () => {
  let sw: SwtpmFixture;
  before(async () => {
    sw = await startSwtpm();
  });
  after(() => sw.stop());

  it("prints the EK hash openssl computes from the EK certificate, with issuer, serial and TPM model (json)", async () => {
    const doc = JSON.parse(await identify(["--swtpm-socket", sw.socketPath, "--output", "json"])) as Record<
      string,
      unknown
    >;
    assert.equal(doc.ek_type, "rsa2048");
    assert.equal(doc.ek_handle, "0x81010001");
    assert.equal(doc.manufacturer, "IBM");
    assert.match(String(doc.firmware_version), /^\d+\.\d+\.\d+\.\d+$/);
    const cert = doc.ek_certificate as { issuer: string; serial: string };
    assert.ok(cert);
    const { stdout } = await runOk(
      "sh",
      [
        "-c",
        "tpm2_nvread 0x1c00002 2>/dev/null | openssl x509 -inform der -noout -issuer -serial -nameopt RFC2253",
      ],
      { env: sw.toolsEnv },
    );
    // The fixture's CA name is a single RDN, so node's and RFC 2253's orders agree.
    assert.match(stdout, new RegExp(`^issuer=${cert.issuer}$`, "m"));
    assert.match(stdout, new RegExp(`^serial=${cert.serial}$`, "im"));
    assert.equal(doc.ek_hash, await opensslCertKeyHash(sw, sw.ekCertIndexes.rsa));
  });

  it("identifies the P-384 EK by --ek-type and prints readable text by default", async () => {
    const text = await identify(["--swtpm-socket", sw.socketPath, "--ek-type", "eccP384"]);
    const hash = await opensslCertKeyHash(sw, sw.ekCertIndexes.ecc);
    assert.match(text, new RegExp(`^EK hash\\s+: ${hash}$`, "m"));
    assert.match(text, /^EK type\s+: eccP384$/m);
    assert.match(text, /^EK certificate\s+: present$/m);
    assert.match(text, /^Manufacturer\s+: IBM$/m);
  });

  it("starts a TPM that was just reset (TPM2_Startup) before reading it", async () => {
    // A hardware reset through swtpm's control channel: every command but Startup now fails.
    await runOk("swtpm_ioctl", ["--unix", sw.ctrlSocketPath, "-i"]);
    const doc = JSON.parse(await identify(["--swtpm-socket", sw.socketPath, "-o", "json"])) as Record<
      string,
      unknown
    >;
    assert.equal(doc.ek_hash, await opensslCertKeyHash(sw, sw.ekCertIndexes.rsa));
  });

  it("reaches the TPM given as --tpm-endpoint unix:PATH or tcp:HOST:PORT", async () => {
    const expected = await opensslCertKeyHash(sw, sw.ekCertIndexes.rsa);
    const viaUnix = JSON.parse(await identify(["--tpm-endpoint", `unix:${sw.socketPath}`, "-o", "json"])) as {
      ek_hash: string;
    };
    assert.equal(viaUnix.ek_hash, expected);
    // swtpm listens on a unix socket here; a relay gives it a TCP port.
    const relay = await startTcpRelay(sw.socketPath);
    try {
      const viaTcp = JSON.parse(
        await identify(["--tpm-endpoint", `tcp:127.0.0.1:${relay.port}`, "-o", "json"]),
      ) as { ek_hash: string };
      assert.equal(viaTcp.ek_hash, expected);
    } finally {
      await relay.close();
    }
    await assert.rejects(identify(["--tpm-endpoint", "tcp:nohost"]), /is not tcp:HOST:PORT/);
  });

  it("leaves another client's transient object loaded (it does not own the TPM)", async () => {
    // tpm2_createprimary leaves its object loaded: swtpm has no resource manager to flush it.
    await runOk("tpm2_createprimary", ["-C", "o", "-c", join(sw.dir, "other.ctx")], { env: sw.toolsEnv });
    const before = await toolsTransientHandles(sw);
    assert.equal(before.length, 1);
    JSON.parse(await identify(["--swtpm-socket", sw.socketPath, "-o", "json"]));
    assert.deepEqual(await toolsTransientHandles(sw), before);
    await runOk("tpm2_flushcontext", ["-t"], { env: sw.toolsEnv });
  });

  it("refuses more than one way to name the TPM, and names a missing device", async () => {
    await assert.rejects(
      identify(["--tpm-device", "/dev/tpm0", "--swtpm-socket", sw.socketPath]),
      /give only one of --tpm-device, --swtpm-socket/,
    );
    await assert.rejects(
      identify(["--tpm-endpoint", `unix:${sw.socketPath}`, "--swtpm-socket", sw.socketPath]),
      /give only one of --tpm-endpoint, --swtpm-socket/,
    );
    await assert.rejects(identify(["--tpm-device", join(sw.dir, "no-tpm")]), /cannot open the TPM device/);
  });
});

describe("hallmark-agent tpm identify (TPM without EK certificate)", () => {
  let sw: SwtpmFixture;
  before(async () => {
    sw = await startSwtpm({ ekCertificates: false });
  });
  after(() => sw.stop());

  it("reports no certificate and hashes the EK public key itself", async () => {
    const doc = JSON.parse(await identify(["--swtpm-socket", sw.socketPath, "-o", "json"])) as Record<
      string,
      unknown
    >;
    assert.equal(doc.ek_certificate, null);
    const pem = join(sw.dir, "ek.pem");
    await runOk("tpm2_readpublic", ["-c", String(doc.ek_handle), "-f", "pem", "-o", pem], {
      env: sw.toolsEnv,
    });
    const { stdout } = await runOk("sh", ["-c", `openssl pkey -pubin -in '${pem}' -outform der | sha256sum`]);
    assert.equal(doc.ek_hash, stdout.split(" ")[0]);
  });
});

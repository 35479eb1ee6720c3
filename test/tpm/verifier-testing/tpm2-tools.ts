import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run, runOk, type RunResult } from "../../fixtures/processes.js";
import type { SwtpmFixture } from "../../fixtures/swtpm.js";

/**
 * tpm2-tools against a test swtpm, for checking the verifier against an independent
 * implementation. Files live in a work dir inside the fixture's temp dir (removed by stop()).
 * swtpm has no resource manager and three object slots, so every step flushes what it loaded.
 */
export class Tpm2Tools {
  private constructor(
    readonly tpm: SwtpmFixture,
    readonly dir: string,
  ) {}

  static async open(tpm: SwtpmFixture): Promise<Tpm2Tools> {
    return new Tpm2Tools(tpm, await mkdtemp(join(tpm.dir, "tools-")));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  read(name: string): Promise<Buffer> {
    return readFile(this.path(name));
  }

  write(name: string, data: Uint8Array | string): Promise<void> {
    return writeFile(this.path(name), data);
  }

  async ok(tool: string, args: string[]): Promise<RunResult> {
    return runOk(tool, args, { env: this.tpm.toolsEnv, cwd: this.dir });
  }

  /** Runs a tool that may fail (checkquote on a tampered quote): returns its exit status. */
  async status(tool: string, args: string[]): Promise<RunResult> {
    return run(tool, args, { env: this.tpm.toolsEnv, cwd: this.dir });
  }

  async flushTransient(): Promise<void> {
    await this.ok("tpm2_flushcontext", ["-t"]);
  }

  /** An EK from the TCG default template (RSA-2048 or ECC P-256), context saved as `${prefix}.ctx`. */
  async createEk(prefix: string, alg: "rsa" | "ecc"): Promise<void> {
    await this.ok("tpm2_createek", ["-c", `${prefix}.ctx`, "-G", alg, "-u", `${prefix}.pub`]);
    await this.flushTransient();
  }

  /**
   * An AK under the EK in `ekCtx`: restricted signing key, public as TPM2B_PUBLIC in
   * `${prefix}.pub`, its Name in `${prefix}.name`, context in `${prefix}.ctx`.
   */
  async createAk(
    prefix: string,
    ekCtx: string,
    alg: "rsa" | "ecc" = "rsa",
    signing: "rsassa" | "rsapss" | "ecdsa" = alg === "rsa" ? "rsassa" : "ecdsa",
    hash: "sha256" | "sha384" = "sha256",
  ): Promise<void> {
    await this.ok("tpm2_createak", [
      "-C",
      ekCtx,
      "-c",
      `${prefix}.ctx`,
      "-G",
      alg,
      "-g",
      hash,
      "-s",
      signing,
      "-u",
      `${prefix}.pub`,
      "-n",
      `${prefix}.name`,
      "-r",
      `${prefix}.priv`,
    ]);
    await this.flushTransient();
  }

  /**
   * tpm2_activatecredential of `credFile` with the AK `akCtx` and the EK `ek` (a context file or
   * persistent handle). EKs from the default template admit only PolicySecret(endorsement), so
   * `ekPolicy` starts that session; an EK with userWithAuth takes the empty password.
   */
  async activate(credFile: string, akCtx: string, ek: string, ekPolicy: boolean): Promise<RunResult> {
    const auth: string[] = [];
    if (ekPolicy) {
      await this.ok("tpm2_startauthsession", ["--policy-session", "-S", "ek-session.ctx"]);
      await this.ok("tpm2_policysecret", ["-S", "ek-session.ctx", "-c", "e"]);
      auth.push("-P", "session:ek-session.ctx");
    }
    const args = ["-c", akCtx, "-C", ek, "-i", credFile, "-o", "activated.bin", ...auth];
    const result = await this.status("tpm2_activatecredential", args);
    if (ekPolicy) await this.ok("tpm2_flushcontext", ["ek-session.ctx"]);
    await this.flushTransient();
    return result;
  }

  /**
   * An ordinary key under an owner-hierarchy primary (made on first use as `srk.ctx`): `alg` in
   * tpm2-tools syntax (e.g. "ecc256:ecdsa-sha256"), `attributes` as for `tpm2_create -a`. Leaves
   * `${prefix}.pub` (TPM2B_PUBLIC), `${prefix}.priv` and a loadable context `${prefix}.ctx`.
   */
  async createKey(prefix: string, alg: string, attributes: string): Promise<void> {
    if (!this.#srk) {
      await this.ok("tpm2_createprimary", ["-C", "o", "-c", "srk.ctx"]);
      await this.flushTransient();
      this.#srk = true;
    }
    await this.ok("tpm2_create", [
      "-C",
      "srk.ctx",
      "-G",
      alg,
      "-a",
      attributes,
      "-u",
      `${prefix}.pub`,
      "-r",
      `${prefix}.priv`,
    ]);
    await this.flushTransient();
    await this.ok("tpm2_load", [
      "-C",
      "srk.ctx",
      "-u",
      `${prefix}.pub`,
      "-r",
      `${prefix}.priv`,
      "-c",
      `${prefix}.ctx`,
    ]);
    await this.flushTransient();
  }

  #srk = false;
}

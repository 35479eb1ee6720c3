import { runOk } from "../fixtures/processes.js";
import { startSwtpm, type SwtpmFixture, type SwtpmOptions } from "../fixtures/swtpm.js";
import { SocketTransport, Tpm } from "../../native/tpm/index.js";

/**
 * Our connection to a test swtpm, shared with tpm2-tools: swtpm serves one connection at a time,
 * so ours is closed while a tool runs and reopened after.
 */
export class SwtpmConnection {
  tpm: Tpm;

  constructor(readonly sw: SwtpmFixture) {
    this.tpm = SwtpmConnection.open(sw);
  }

  /** Starts a swtpm and opens our connection to it; `stop()` undoes both. */
  static async start(options?: SwtpmOptions): Promise<SwtpmConnection> {
    const sw = await startSwtpm(options);
    try {
      return new SwtpmConnection(sw);
    } catch (err) {
      await sw.stop();
      throw err;
    }
  }

  static open(sw: SwtpmFixture): Tpm {
    return new Tpm(new SocketTransport({ kind: "unix", path: sw.socketPath }));
  }

  /** Runs a tpm2-tools command (in the fixture's dir) between our connections; returns stdout. */
  async tools(cmd: string, args: string[]): Promise<string> {
    await this.tpm.close();
    try {
      return (await runOk(cmd, args, { env: this.sw.toolsEnv, cwd: this.sw.dir })).stdout;
    } finally {
      this.tpm = SwtpmConnection.open(this.sw);
    }
  }

  /** Drops our connection and opens a new one (after another client used the TPM). */
  async reconnect(): Promise<Tpm> {
    await this.tpm.close();
    this.tpm = SwtpmConnection.open(this.sw);
    return this.tpm;
  }

  close(): Promise<void> {
    return this.tpm.close();
  }

  /** Closes our connection and stops the swtpm (for a connection made by `start`). */
  async stop(): Promise<void> {
    try {
      await this.tpm.close();
    } finally {
      await this.sw.stop();
    }
  }
}

/** Transient handles loaded in the TPM, as tpm2-tools (another client, not our code) lists them. */
export async function toolsTransientHandles(sw: SwtpmFixture): Promise<number[]> {
  const { stdout } = await runOk("tpm2_getcap", ["handles-transient"], { env: sw.toolsEnv });
  return [...stdout.matchAll(/0x[0-9a-f]+/gi)].map((m) => Number.parseInt(m[0], 16));
}

import type { TpmTransport } from "../../native/tpm/transport/transport.js";

/** One command and the response to it, as they crossed the wire. */
export interface Exchange {
  readonly command: Buffer;
  readonly response: Buffer;
}

/**
 * A bus sniffer in front of a real transport (swtpm): records every byte sent and received, and
 * can change a response on its way back (a bus attacker), so tests can see what a discrete TPM's
 * bus would carry and what happens when it is tampered with.
 */
export class RecordingTransport implements TpmTransport {
  readonly exchanges: Exchange[] = [];
  #tamper: ((command: Buffer, response: Buffer) => Buffer | undefined) | undefined;

  constructor(readonly inner: TpmTransport) {}

  get endpoint(): string {
    return this.inner.endpoint;
  }

  get hasResourceManager(): boolean {
    return this.inner.hasResourceManager;
  }

  get generation(): number {
    return this.inner.generation;
  }

  async send(command: Buffer, timeoutMs?: number): Promise<Buffer> {
    const sent = Buffer.from(command);
    const received = await this.inner.send(command, timeoutMs);
    const changed = this.#tamper?.(sent, received);
    if (changed !== undefined) this.#tamper = undefined;
    const response = changed ?? received;
    this.exchanges.push({ command: sent, response: Buffer.from(response) });
    return response;
  }

  /**
   * Rewrites the next response `change` returns a buffer for (it sees every command and response
   * until then); later responses pass unchanged.
   */
  tamperWithNext(change: (command: Buffer, response: Buffer) => Buffer | undefined): void {
    this.#tamper = change;
  }

  /** True when `secret` occurs anywhere in the bytes sent or received so far. */
  saw(secret: Uint8Array): boolean {
    const needle = Buffer.from(secret);
    return this.exchanges.some((e) => e.command.includes(needle) || e.response.includes(needle));
  }

  /** The command codes sent so far, in order. */
  commandCodes(): number[] {
    return this.exchanges.map((e) => e.command.readUInt32BE(6));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

import { cryptoRandom } from "../../common/random.js";
import { Tpm } from "../../native/tpm/tpm.js";
import type { TpmTransport } from "../../native/tpm/transport/transport.js";
import { FaultyTransport } from "./transport-doubles.js";

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
export class BusRecorder {
  readonly exchanges: Exchange[] = [];
  /** The transport to build a Tpm on: every exchange through it is recorded here. */
  readonly transport: TpmTransport;
  #tamper: ((command: Buffer, response: Buffer) => Buffer | undefined) | undefined;

  constructor(inner: TpmTransport) {
    this.transport = new FaultyTransport(inner, async (command, forward) => {
      const sent = Buffer.from(command);
      const received = await forward(command);
      const changed = this.#tamper?.(sent, received);
      if (changed !== undefined) this.#tamper = undefined;
      const response = changed ?? received;
      this.exchanges.push({ command: sent, response: Buffer.from(response) });
      return response;
    });
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
}

/** A Tpm on `inner`'s connection whose bus is recorded by `bus`. */
export function sniffed(inner: TpmTransport): { bus: BusRecorder; tpm: Tpm } {
  const bus = new BusRecorder(inner);
  return { bus, tpm: new Tpm(bus.transport) };
}

/** 32 random bytes the TPM keeps as they are as an authValue (no trailing zero octet to trim). */
export function secretBytes(): Buffer {
  const v = cryptoRandom.bytes(32);
  v[31] = 0xa5;
  return v;
}

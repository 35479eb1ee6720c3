import { connect, createServer } from "node:net";
import { abortError, OperationAbortedError } from "../../common/errors.js";
import assert from "node:assert/strict";
import type { SendOptions, TpmTransport } from "../../native/tpm/transport/transport.js";

/** The command code of a marshalled command (bytes 6..9 of its header). */
export function commandCodeOf(command: Buffer): number {
  return command.readUInt32BE(6);
}

/** The flushHandle a marshalled TPM2_FlushContext names (its only parameter). */
export function flushedHandleOf(command: Buffer): number {
  return command.readUInt32BE(10);
}

/** Answers from a script and records what it was sent; `generation` can be raised by the test. */
export class ScriptedTransport implements TpmTransport {
  readonly endpoint = "scripted";
  readonly sent: Buffer[] = [];
  readonly hasResourceManager: boolean;
  generation = 0;

  constructor(
    readonly responses: Buffer[],
    opts: { hasResourceManager?: boolean } = {},
  ) {
    this.hasResourceManager = opts.hasResourceManager ?? false;
  }

  /** Keeps the transport contract on signals: one already aborted means nothing is sent. */
  send(command: Buffer, options: SendOptions = {}): Promise<Buffer> {
    if (options.signal?.aborted) {
      return Promise.reject(abortError(options.signal, "scripted TPM command (not sent)"));
    }
    this.sent.push(command);
    const next = this.responses.shift();
    return next ? Promise.resolve(next) : Promise.reject(new Error("no more responses"));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Sits in front of a real transport (swtpm) and lets a test fail one exchange on purpose: the
 * command still runs on the real TPM, only what comes back (or whether it is sent) is changed.
 * Everything sent is recorded in `sent`.
 */
export class FaultyTransport implements TpmTransport {
  readonly sent: Buffer[] = [];

  constructor(
    readonly inner: TpmTransport,
    readonly intercept: (command: Buffer, forward: (command: Buffer) => Promise<Buffer>) => Promise<Buffer>,
  ) {}

  get endpoint(): string {
    return this.inner.endpoint;
  }

  get hasResourceManager(): boolean {
    return this.inner.hasResourceManager;
  }

  get generation(): number {
    return this.inner.generation;
  }

  send(command: Buffer, options?: SendOptions): Promise<Buffer> {
    this.sent.push(command);
    return this.intercept(command, (c) => this.inner.send(c, options));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * An `assert.rejects` check: the caller was freed by its signal with `code`, and the message says
 * what became of the command (`message`).
 */
export function abortedWith(code: OperationAbortedError["code"], message: RegExp): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof OperationAbortedError, `expected an OperationAbortedError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.category, code === "CANCELLED" ? "cancelled" : "deadline_exceeded");
    assert.match(err.message, message);
    return true;
  };
}

/** A response with its last parameter byte flipped (the parameter area of a sessions response). */
export function flipLastParameterByte(response: Buffer, handleCount: number): Buffer {
  const sizeAt = 10 + 4 * handleCount;
  const parameterSize = response.readUInt32BE(sizeAt);
  const out = Buffer.from(response);
  out[sizeAt + 4 + parameterSize - 1]! ^= 0x01;
  return out;
}

/** A response with one extra byte at the end (and its size field saying so). */
export function withTrailingByte(response: Buffer): Buffer {
  const out = Buffer.concat([response, Buffer.from([0])]);
  out.writeUInt32BE(out.length, 2);
  return out;
}

/** A TCP port on 127.0.0.1 relaying every connection to a unix socket (swtpm listens on one). */
export async function startTcpRelay(unixPath: string): Promise<{ port: number; close(): Promise<void> }> {
  const relay = createServer((client) => {
    const upstream = connect(unixPath);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const address = relay.address();
  if (!address || typeof address !== "object") throw new Error("the TCP relay has no port");
  return {
    port: address.port,
    close: () => new Promise<void>((resolve) => relay.close(() => resolve())),
  };
}

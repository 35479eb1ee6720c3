import type pkcs11js from "pkcs11js";
import { throwIfAborted } from "../../common/errors.js";
import { isSessionLost } from "./errors.js";
import type { SessionPool } from "./session-pool.js";
import type { TokenThreads } from "./token-threads.js";

/**
 * Where signatures are computed, off the event loop either way: "worker-threads" runs C_SignInit and
 * C_Sign on the token threads; "libuv-threadpool" uses pkcs11js's C_SignAsync on a pool session, which
 * leaves C_SignInit on the event loop.
 */
export type SignWith = "worker-threads" | "libuv-threadpool";

/** Makes one signature with a private key handle, the way the configuration says. */
export class Signer {
  readonly #signWith: SignWith;
  readonly #api: pkcs11js.PKCS11;
  readonly #threads: TokenThreads;
  readonly #pool: SessionPool;

  constructor(signWith: SignWith, api: pkcs11js.PKCS11, threads: TokenThreads, pool: SessionPool) {
    this.#signWith = signWith;
    this.#api = api;
    this.#threads = threads;
    this.#pool = pool;
  }

  /** `input` is what the token signs (a digest for ECDSA); `outLength` is the signature's size. */
  async sign(
    mechanism: pkcs11js.Mechanism,
    handle: pkcs11js.Handle,
    input: Buffer,
    outLength: number,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    if (this.#signWith === "worker-threads")
      return this.#threads.sign(mechanism, handle, input, outLength, signal);
    const acquired = this.#pool.acquire();
    const session = acquired instanceof Promise ? await acquired : acquired;
    try {
      throwIfAborted(signal, "signing");
      this.#api.C_SignInit(session, mechanism, handle);
      const signature = await this.#api.C_SignAsync(session, input, Buffer.allocUnsafe(outLength));
      this.#pool.release(session);
      return signature;
    } catch (err) {
      if (isSessionLost(err)) this.#pool.discard(session);
      else this.#pool.release(session);
      throw err;
    }
  }
}

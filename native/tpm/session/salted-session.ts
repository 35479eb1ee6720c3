import { bytesEqual } from "../bytes.js";
import { TPM_ALG, TPM_HT, TPM_SE, digestSize, handleType, type TpmHashAlg } from "../constants.js";
import { flushQuietly } from "../commands/objects.js";
import { startAuthSession } from "../commands/session.js";
import { SYM_AES_128_CFB, type TpmtPublic } from "../structures/public.js";
import {
  cpHash,
  rpHash,
  sessionAttributes,
  sessionAttributesToU8,
  type AuthCommand,
  type AuthResponse,
  type NamedHandle,
} from "../structures/sessions.js";
import type { ParsedResponse } from "../framing.js";
import { isTpmError } from "../rc.js";
import type { Tpm } from "../tpm.js";
import { TpmSessionError, type TpmSessionErrorCode } from "./errors.js";
import { cryptFirstParameter } from "./parameter-encryption.js";
import { encryptSalt } from "./salt.js";
import { authHmac, sessionKeyFromSalt, sessionValue } from "./session-crypto.js";

/** A loaded RSA or ECC decryption key the salt is encrypted to (the EK, the SRK). */
export interface SaltKey {
  readonly handle: number;
  /** Its public area: the salt is encrypted to this key, so it must be the key at `handle`. */
  readonly public: TpmtPublic;
}

/** One command run through the session. The session authorizes `handles[0]`. */
export interface SessionCommand {
  readonly code: number;
  /** Every handle of the command, with its Name (cpHash covers them all). */
  readonly handles: readonly NamedHandle[];
  /** The authValue of the entity at `handles[0]` (empty when absent). */
  readonly authValue?: Uint8Array;
  /** The parameter area in the clear. */
  readonly parameters: Uint8Array;
  /** Encrypt the first command parameter (TPMA_SESSION decrypt) / the first response parameter (encrypt). */
  readonly encrypt?: { readonly command?: boolean; readonly response?: boolean };
  /** Sessions for the following handles (a policy session for an EK), in handle order. */
  readonly otherSessions?: readonly AuthCommand[];
  /** How many handles the response carries (1 for Load, CreatePrimary). */
  readonly responseHandles?: number;
  readonly signal?: AbortSignal;
}

export interface SessionResponse {
  readonly handles: readonly number[];
  /** The response parameter area, first parameter decrypted when `encrypt.response` was asked. */
  readonly parameters: Buffer;
  /** The other sessions' responses, in order. */
  readonly otherSessions: readonly AuthResponse[];
}

/** open: usable; unusable: its nonces are out of step (do not use, but flush); ended: flushed or closed by the TPM. */
type State = "open" | "unusable" | "ended";

/**
 * An HMAC session salted to a TPM key, with AES-128-CFB parameter encryption (Part 1, 19 and 21).
 * Only the TPM holding that key's private half learns the salt, so only it and we know the
 * session key: a bus sniffer sees HMACs instead of passwords and ciphertext instead of the
 * parameters marked for encryption, and a response the session key does not vouch for is refused
 * (and the session flushed) before any of it is used.
 *
 * A session belongs to one Tpm connection and runs one command at a time (nonces roll with every
 * command); `withSaltedSession` starts one and flushes it on every path.
 */
export class SaltedSession {
  readonly tpm: Tpm;
  readonly handle: number;
  readonly hashAlg: TpmHashAlg;
  readonly #sessionKey: Buffer;
  #nonceTpm: Buffer;
  #state: State = "open";
  #busy = false;

  private constructor(tpm: Tpm, handle: number, hashAlg: TpmHashAlg, sessionKey: Buffer, nonceTpm: Buffer) {
    this.tpm = tpm;
    this.handle = handle;
    this.hashAlg = hashAlg;
    this.#sessionKey = sessionKey;
    this.#nonceTpm = nonceTpm;
  }

  /**
   * TPM2_StartAuthSession for an HMAC session salted to `key`, unbound, AES-128-CFB. Costs one
   * RSA decryption or ECDH in the TPM: start one per operation (activation, key creation), not
   * per command.
   */
  static async start(
    tpm: Tpm,
    key: SaltKey,
    options: { hashAlg?: TpmHashAlg; signal?: AbortSignal } = {},
  ): Promise<SaltedSession> {
    const hashAlg = options.hashAlg ?? TPM_ALG.SHA256;
    const { salt, encryptedSalt } = encryptSalt(key.public, tpm.random);
    try {
      const nonceCaller = tpm.random.bytes(nonceSize(hashAlg));
      const started = await startAuthSession(tpm, {
        tpmKey: key.handle,
        nonceCaller,
        encryptedSalt,
        sessionType: TPM_SE.HMAC,
        symmetric: SYM_AES_128_CFB,
        authHash: hashAlg,
        signal: options.signal,
      });
      const sessionKey = sessionKeyFromSalt(hashAlg, salt, started.nonceTpm, nonceCaller);
      return new SaltedSession(tpm, started.handle, hashAlg, sessionKey, started.nonceTpm);
    } finally {
      salt.fill(0);
    }
  }

  /** False once flushed, ended by the TPM, or failed: the session can run no more commands. */
  get isOpen(): boolean {
    return this.#state === "open";
  }

  /**
   * Runs one command authorized by this session: encrypts the first parameter if asked, computes
   * the HMAC over cpHash (of the parameters as sent), checks the response HMAC over rpHash in
   * constant time, rolls the nonces and decrypts the first response parameter. A wrong or missing
   * response HMAC fails closed: the session and any handle the response named are flushed and
   * TpmSessionError is thrown.
   */
  async execute(cmd: SessionCommand): Promise<SessionResponse> {
    if (this.#state !== "open") {
      throw new TpmSessionError(
        "TPM_SESSION_ENDED",
        `session 0x${this.handle.toString(16)} can run no more commands`,
      );
    }
    if (this.#busy) {
      // Nonces roll per command: two commands at once would each use a nonce the other replaces.
      throw new TpmSessionError(
        "TPM_SESSION_BUSY",
        `session 0x${this.handle.toString(16)} is running another command`,
      );
    }
    this.#busy = true;
    try {
      return await this.#run(cmd);
    } finally {
      this.#busy = false;
    }
  }

  /** Flushes the session (best effort: a session the TPM already ended needs nothing). */
  async flush(): Promise<void> {
    if (this.#state === "ended") return;
    this.#end();
    await flushQuietly(this.tpm, this.handle);
  }

  async #run(cmd: SessionCommand): Promise<SessionResponse> {
    const nonceCaller = this.tpm.random.bytes(nonceSize(this.hashAlg));
    const nonceOlder = this.#nonceTpm;
    const key = sessionValue(this.#sessionKey, cmd.authValue ?? Buffer.alloc(0));
    const encryptCommand = cmd.encrypt?.command ?? false;
    const encryptResponse = cmd.encrypt?.response ?? false;
    const parameters = encryptCommand
      ? cryptFirstParameter("encrypt", cmd.parameters, this.hashAlg, key, nonceCaller, nonceOlder)
      : Buffer.from(cmd.parameters);
    const attributes = sessionAttributes({
      continueSession: true,
      decrypt: encryptCommand,
      encrypt: encryptResponse,
    });
    const attributeByte = sessionAttributesToU8(attributes);
    const names = cmd.handles.map((h) => h.name);
    const commandHmac = authHmac(
      this.hashAlg,
      key,
      cpHash(this.hashAlg, cmd.code, names, parameters),
      nonceCaller,
      nonceOlder,
      attributeByte,
    );
    const others = cmd.otherSessions ?? [];
    let res: ParsedResponse;
    try {
      res = await this.tpm.execute({
        code: cmd.code,
        handles: cmd.handles.map((h) => h.handle),
        sessions: [
          { sessionHandle: this.handle, nonce: nonceCaller, attributes, hmac: commandHmac },
          ...others,
        ],
        parameters,
        responseHandles: cmd.responseHandles,
        signal: cmd.signal,
      });
    } catch (err) {
      // A TPM error leaves the session's nonce as it was; anything else (no answer, a broken
      // frame) may have rolled it without our seeing the new one.
      if (!isTpmError(err)) this.#state = "unusable";
      throw err;
    }

    const mine = await this.#checkResponse(res, {
      code: cmd.code,
      key,
      nonceCaller,
      sessions: 1 + others.length,
    });
    this.#nonceTpm = mine.nonce;
    if (!mine.attributes.continueSession) this.#end();
    return {
      handles: res.handles,
      parameters: encryptResponse
        ? cryptFirstParameter("decrypt", res.parameters, this.hashAlg, key, mine.nonce, nonceCaller)
        : res.parameters,
      otherSessions: res.sessions.slice(1),
    };
  }

  /**
   * This session's entry in the response, once its HMAC over rpHash (responseCode 0, the command
   * code, the parameters as received) has been found to be the session key's, compared in
   * constant time. Otherwise the response is refused and nothing it made is kept.
   */
  async #checkResponse(
    res: ParsedResponse,
    sent: { code: number; key: Buffer; nonceCaller: Buffer; sessions: number },
  ): Promise<AuthResponse> {
    const refuse = async (code: TpmSessionErrorCode, why: string): Promise<never> => {
      await this.#failClosed(res.handles);
      throw new TpmSessionError(code, `${why}; the session was flushed and the response discarded`);
    };
    const mine = res.sessions[0];
    if (mine === undefined || res.sessions.length !== sent.sessions) {
      return refuse(
        "TPM_SESSION_RESPONSE_INVALID",
        `the response carries ${res.sessions.length} session(s) for a command with ${sent.sessions}`,
      );
    }
    if (mine.nonce.length === 0)
      return refuse("TPM_SESSION_RESPONSE_INVALID", "the response carries no nonceTPM");
    if (mine.hmac.length === 0)
      return refuse("TPM_SESSION_RESPONSE_HMAC_MISSING", "the response carries no HMAC");
    const expected = authHmac(
      this.hashAlg,
      sent.key,
      rpHash(this.hashAlg, 0, sent.code, res.parameters),
      mine.nonce,
      sent.nonceCaller,
      sessionAttributesToU8(mine.attributes),
    );
    if (!bytesEqual(expected, mine.hmac)) {
      return refuse("TPM_SESSION_RESPONSE_HMAC_INVALID", "the response HMAC does not match the session key");
    }
    return mine;
  }

  /** A response the session key does not vouch for: nothing in it is used, nothing it made stays. */
  async #failClosed(responseHandles: readonly number[]): Promise<void> {
    for (const h of responseHandles) {
      if (handleType(h) === TPM_HT.TRANSIENT) await flushQuietly(this.tpm, h);
    }
    await this.flush();
  }

  #end(): void {
    this.#state = "ended";
    this.#sessionKey.fill(0);
  }
}

/** nonceCaller: the size of the session hash's digest (Part 1, 19.6.2 allows 16 up to that). */
function nonceSize(hashAlg: TpmHashAlg): number {
  return digestSize(hashAlg) ?? 32;
}

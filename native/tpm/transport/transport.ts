/**
 * A byte pipe to one TPM: a marshalled command goes in, the marshalled response comes out. It
 * knows nothing of command codes; it only frames (10-byte header, then `size` bytes) so that it
 * never hands back half a response or the start of the next one.
 */
export interface TpmTransport {
  /** Where the TPM is, for messages ("/dev/tpmrm0", "unix:/run/swtpm.sock", "tcp:127.0.0.1:2321"). */
  readonly endpoint: string;
  /**
   * True when a resource manager sits between us and the TPM (the kernel's /dev/tpmrm*): it
   * flushes our transient objects and sessions when we close. Without one, we must flush them.
   */
  readonly hasResourceManager: boolean;
  /**
   * Counts connection resets: 0 until the first one, then one more each time a connection that
   * was in use is given up (a timeout, an I/O error, the peer going away) so that the next command
   * runs on a fresh one. Under a resource manager (/dev/tpmrm*) a reset flushes every transient
   * object and session obtained before it, and the handle numbers are handed out again to new
   * objects: a caller holding handles compares this with the value it saw when it got them (the
   * Tpm does so for the handles it handed out, see Tpm.execute). Without a resource manager a
   * reset loses nothing by itself (swtpm restarted under us does, and then says TPM_RC_HANDLE).
   */
  readonly generation: number;
  /**
   * Sends one command; commands from concurrent callers run one at a time, in call order. A
   * signal that fires while the command waits its turn takes it out of the queue: it is never
   * sent. Once written, neither the signal nor the time limit can stop the TPM's work, and a TPM
   * must not get a second command before it answers the first: the caller is freed at once
   * (OperationAbortedError, or TpmTimeoutError), the connection is reset (`generation` goes up) so
   * the late answer reaches nobody, and the command is not sent again.
   */
  send(command: Buffer, options?: SendOptions): Promise<Buffer>;
  /** Closes the connection; commands already queued fail with TpmTransportClosedError. */
  close(): Promise<void>;
}

export interface SendOptions {
  /** This command's time limit; the transport's default when absent. */
  readonly timeoutMs?: number;
  /** The caller's deadline or cancellation. */
  readonly signal?: AbortSignal;
}

/** A TPM command may take seconds (RSA key generation on a slow chip); this is the default limit. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

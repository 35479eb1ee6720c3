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
  /** Sends one command; commands from concurrent callers run one at a time, in call order. */
  send(command: Buffer, timeoutMs?: number): Promise<Buffer>;
  /** Closes the connection; commands already queued fail with TpmTransportClosedError. */
  close(): Promise<void>;
}

/** A TPM command may take seconds (RSA key generation on a slow chip); this is the default limit. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

import type { KeyManager, KeyOperationOptions, ManagedKey, NewKeyRequest } from "../ca/index.js";
import { keyKindOfId } from "../ca/ca-slot.js";
import { monotonicSeconds, type MonotonicSeconds } from "../../common/metrics/monotonic.js";
import type { SignatureScheme } from "../../native/pkcs11/index.js";
import type { HsmMetrics, HsmSignOperation } from "./server-metrics.js";

/**
 * The CA's key store with every signature timed: the HSM's latency as the CA sees it (a token's
 * queue included), by what the key signs, known from the id the CA gave the key.
 */
export class MeteredKeyManager implements KeyManager {
  constructor(
    private readonly inner: KeyManager,
    private readonly metrics: HsmMetrics,
    private readonly now: MonotonicSeconds = monotonicSeconds,
  ) {}

  get tokenLabel(): string {
    return this.inner.tokenLabel;
  }

  generateKey(request: NewKeyRequest, options?: KeyOperationOptions): Promise<ManagedKey> {
    return this.inner.generateKey(request, options);
  }

  findKey(id: string, options?: KeyOperationOptions): Promise<ManagedKey | undefined> {
    return this.inner.findKey(id, options);
  }

  listKeys(options?: KeyOperationOptions): Promise<ManagedKey[]> {
    return this.inner.listKeys(options);
  }

  deleteKey(id: string, options?: KeyOperationOptions): Promise<boolean> {
    return this.inner.deleteKey(id, options);
  }

  async sign(
    key: ManagedKey,
    data: Buffer,
    scheme: SignatureScheme,
    options?: KeyOperationOptions,
  ): Promise<Buffer> {
    const started = this.now();
    try {
      return await this.inner.sign(key, data, scheme, options);
    } finally {
      this.metrics.signed(operationOf(key), this.now() - started);
    }
  }
}

function operationOf(key: ManagedKey): HsmSignOperation {
  return keyKindOfId(key.id) ?? "other";
}

import type pkcs11js from "pkcs11js";

type ModuleFunction = keyof pkcs11js.PKCS11 & `C_${string}`;

export interface CallRecord {
  /** The names of the recorded calls, in order. */
  readonly calls: readonly string[];
  /** Puts the module's own functions back. */
  stop(): void;
}

/**
 * Records the calls made on `api` to the functions named (say a key manager's C_Login when it logs in
 * again), each going through to the module unchanged; `onCall` runs just before a recorded call.
 */
export function recordCalls(
  api: pkcs11js.PKCS11,
  names: readonly ModuleFunction[],
  onCall?: (name: ModuleFunction) => void,
): CallRecord {
  const calls: string[] = [];
  const restore: (() => void)[] = [];
  for (const name of names) {
    const original = Reflect.get(api, name) as (...args: unknown[]) => unknown;
    // pkcs11js keeps some functions on the instance, most on the prototype.
    const own = Object.getOwnPropertyDescriptor(api, name);
    restore.push(() =>
      own === undefined ? Reflect.deleteProperty(api, name) : Object.defineProperty(api, name, own),
    );
    Reflect.set(api, name, (...args: unknown[]): unknown => {
      calls.push(name);
      onCall?.(name);
      return original.apply(api, args);
    });
  }
  return {
    calls,
    stop: () => {
      for (const undo of restore) undo();
    },
  };
}

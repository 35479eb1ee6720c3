import type { RevocationStream, RevocationStreamStatus } from "../revocation-stream.js";

/** Resolves with the stream's status once `predicate` holds (the test runner's timeout bounds it). */
export function until(
  stream: RevocationStream,
  predicate: (status: RevocationStreamStatus) => boolean,
): Promise<RevocationStreamStatus> {
  return new Promise((resolve) => {
    const subscription = stream.status.subscribe((status) => {
      if (!predicate(status)) return;
      queueMicrotask(() => subscription.close());
      resolve(status);
    });
  });
}

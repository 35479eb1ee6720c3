/** A signal that fires when either does: the caller's deadline, or the owner closing. */
export function eitherSignal(caller: AbortSignal | undefined, owner: AbortSignal): AbortSignal {
  return caller === undefined ? owner : AbortSignal.any([caller, owner]);
}

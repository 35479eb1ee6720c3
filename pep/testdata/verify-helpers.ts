import { DelegationVerifyError, type DelegationVerifyErrorCode } from "../errors.js";

/** The refusal code a verification ended with; fails the test if it did not refuse as typed. */
export async function refusalCode(verification: Promise<unknown>): Promise<DelegationVerifyErrorCode> {
  try {
    await verification;
  } catch (err) {
    if (err instanceof DelegationVerifyError) return err.code;
    throw err;
  }
  throw new Error("the token was accepted");
}

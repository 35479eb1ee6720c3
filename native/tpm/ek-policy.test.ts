import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TPM_ALG } from "./constants.js";
import { ekPolicyA, ekPolicyB, ekPolicyPlan } from "./ek-policy.js";

describe("EK policies (TCG EK Credential Profile)", () => {
  it("computes PolicyA to the profile's published digests", () => {
    assert.equal(
      ekPolicyA(TPM_ALG.SHA256).toString("hex"),
      "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa",
    );
    assert.equal(
      ekPolicyA(TPM_ALG.SHA384).toString("hex"),
      "8bbf2266537c171cb56e403c4dc1d4b64f432611dc386e6f532050c3278c930e143e8bb1133824ccb431053871c6db53",
    );
  });

  it("computes PolicyB (the high-range templates' authPolicy) from PolicyA and PolicyC", () => {
    assert.equal(
      ekPolicyB(TPM_ALG.SHA256)?.toString("hex"),
      "ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0",
    );
    assert.equal(
      ekPolicyB(TPM_ALG.SHA384)?.toString("hex"),
      "b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3b4e4cb1c0ad9bde419cacb47ba09699646150f9fc000f3f80e12",
    );
  });

  it("plans the session for a known authPolicy and refuses an unknown one", () => {
    assert.equal(ekPolicyPlan(TPM_ALG.SHA256, ekPolicyA(TPM_ALG.SHA256))?.kind, "policyA");
    assert.equal(ekPolicyPlan(TPM_ALG.SHA384, ekPolicyB(TPM_ALG.SHA384) as Buffer)?.kind, "policyB");
    const flipped = Buffer.from(ekPolicyA(TPM_ALG.SHA256));
    flipped[0] = (flipped[0] as number) ^ 1;
    assert.equal(ekPolicyPlan(TPM_ALG.SHA256, flipped), null);
  });
});

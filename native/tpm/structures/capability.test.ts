import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TPM_ALG, TPM_PT } from "../constants.js";
import { marshalCapabilityData, propertyString, unmarshalCapabilityData } from "./capability.js";
import type { TpmsCapabilityData } from "./capability.js";

describe("TPMS_CAPABILITY_DATA", () => {
  it("round-trips every capability", () => {
    const cases: TpmsCapabilityData[] = [
      { capability: "algs", algorithms: [{ alg: TPM_ALG.RSA, algProperties: 0x9 }] },
      { capability: "handles", handles: [0x81010001, 0x81010016] },
      { capability: "commands", commands: [0x0000011f] },
      { capability: "ppCommands", commandCodes: [0x11f] },
      { capability: "auditCommands", commandCodes: [] },
      { capability: "pcrs", assignedPcr: [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 23], sizeofSelect: 3 }] },
      { capability: "tpmProperties", properties: [{ property: TPM_PT.MANUFACTURER, value: 0x49424d00 }] },
      { capability: "pcrProperties", pcrProperties: [{ tag: 0, pcrs: [1, 2], sizeofSelect: 3 }] },
      { capability: "eccCurves", eccCurves: [3, 4] },
      {
        capability: "authPolicies",
        authPolicies: [
          { handle: 0x40000001, policyHash: { hashAlg: TPM_ALG.SHA256, digest: Buffer.alloc(32) } },
        ],
      },
      { capability: "act", actData: [{ handle: 0x40000110, timeout: 5, attributes: 1 }] },
    ];
    for (const c of cases)
      assert.deepEqual(unmarshalCapabilityData(marshalCapabilityData(c)), c, c.capability);
  });

  it("refuses an unknown capability and a count beyond the buffer", () => {
    assert.throws(() => unmarshalCapabilityData(Buffer.from("000000ff00000000", "hex")), /capability/);
    assert.throws(
      () => unmarshalCapabilityData(Buffer.from("0000000100000002" + "81010001", "hex")),
      /handles/,
    );
  });

  it("reads vendor strings", () => {
    assert.equal(propertyString(0x49424d00), "IBM");
    assert.equal(propertyString(0x53572020), "SW");
  });
});

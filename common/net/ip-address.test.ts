import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ipAddressBytes, isWildcardAddress } from "./ip-address.js";

describe("ipAddressBytes", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "7f000001"],
    ["::1", "00000000000000000000000000000001"],
    ["2001:db8::8:800:200c:417a", "20010db8000000000008080020 0c417a".replace(" ", "")],
    ["fe80::", "fe800000000000000000000000000000"],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
  ];
  for (const [text, hex] of cases) {
    it(`encodes ${text}`, () => assert.equal(ipAddressBytes(text).toString("hex"), hex));
  }
  it("refuses a host name", () =>
    assert.throws(() => ipAddressBytes("localhost"), { code: "INVALID_IP_ADDRESS" }));
  it("knows the wildcards", () => {
    assert.ok(isWildcardAddress("0.0.0.0"));
    assert.ok(isWildcardAddress("::"));
    assert.ok(!isWildcardAddress("127.0.0.1"));
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TpmReader, TpmWriter } from "../marshal.js";
import { TPM_ALG, TPM_RH, TPM_ST } from "../constants.js";
import {
  NULL_HASHCHECK_TICKET,
  readCreationData,
  readTicket,
  unmarshalCreationData,
  writeCreationData,
  writeTicket,
} from "./tickets.js";

describe("tickets and creation data", () => {
  it("the NULL hashcheck ticket is 80 24 40000007 0000", () => {
    const w = new TpmWriter();
    writeTicket(w, NULL_HASHCHECK_TICKET);
    assert.equal(w.toBuffer().toString("hex"), "8024" + "40000007" + "0000");
    assert.deepEqual(readTicket(new TpmReader(w.toBuffer()), "hashcheck"), NULL_HASHCHECK_TICKET);
  });

  it("a ticket with the wrong tag or hierarchy is refused", () => {
    const w = new TpmWriter();
    writeTicket(w, { tag: TPM_ST.CREATION, hierarchy: TPM_RH.OWNER, digest: Buffer.alloc(32) });
    assert.throws(() => readTicket(new TpmReader(w.toBuffer()), "hashcheck"), /tag/);
    assert.equal(readTicket(new TpmReader(w.toBuffer()), "creation").hierarchy, TPM_RH.OWNER);
    const bad = new TpmWriter();
    writeTicket(bad, { tag: TPM_ST.CREATION, hierarchy: 0x81000000, digest: Buffer.alloc(0) });
    assert.throws(() => readTicket(new TpmReader(bad.toBuffer()), "creation"), /hierarchy/);
  });

  it("TPMS_CREATION_DATA of a primary (parent is a hierarchy) round-trips", () => {
    const data = {
      pcrSelect: [],
      pcrDigest: Buffer.alloc(32, 1),
      locality: 1,
      parentNameAlg: TPM_ALG.NULL,
      parentName: Buffer.from("40000001", "hex"),
      parentQualifiedName: Buffer.from("40000001", "hex"),
      outsideInfo: Buffer.alloc(0),
    } as const;
    const w = new TpmWriter();
    writeCreationData(w, data);
    assert.deepEqual(unmarshalCreationData(w.toBuffer()), data);
    assert.deepEqual(readCreationData(new TpmReader(w.toBuffer())), data);
  });
});

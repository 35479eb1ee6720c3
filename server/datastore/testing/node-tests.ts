import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { SpiffeId } from "../../../common/spiffe/index.js";
import { AGENT, attestation, id, rejectsWith, sel, type SuiteContext } from "./suite-support.js";

/** Attested nodes: attestation records, bans, eviction, listing, validation. */
export function nodeTests({ withDatastore }: SuiteContext): void {
  describe("attested nodes", () => {
    it("records an attestation, and a later one replaces key, serial, expiry and selectors", () =>
      withDatastore(async (ds, _db, clock) => {
        const first = await ds.upsertAttestedNode(attestation("11"));
        assert.equal(first.banned, false);
        assert.equal(first.createdAtMs, clock.nowMs());
        const read = await ds.getAttestedNode(first.spiffeId);
        assert.deepEqual(read, first);
        clock.advance(1_800_000);
        const again = await ds.upsertAttestedNode(
          attestation("11", {
            svidSerial: "ff",
            svidExpiresAtMs: Date.UTC(2026, 0, 1, 2),
            selectors: [sel("tpm:pcr:sha256:7:00")],
          }),
        );
        assert.equal(again.svidSerial, "ff");
        assert.equal(again.createdAtMs, first.createdAtMs);
        assert.equal(again.updatedAtMs, clock.nowMs());
        assert.ok(!again.agentKey.equals(first.agentKey));
        assert.deepEqual(await ds.getAttestedNode(first.spiffeId), again);
        const bySelector = await ds.listAttestedNodes({
          selectors: { match: "any", selectors: [sel("tpm:pcr:sha256:7:00")] },
        });
        assert.equal(bySelector.items.length, 1);
        assert.equal(
          (
            await ds.listAttestedNodes({
              selectors: { match: "any", selectors: [sel("tpm:manufacturer:id:53544D20")] },
            })
          ).items.length,
          0,
          "the old selectors are gone",
        );
        assert.equal(await ds.getAttestedNode(id("/hallmark/agent/tpm/none")), undefined);
      }));

    it("bans and unbans; a banned node cannot attest; setting the same flag again changes nothing", () =>
      withDatastore(async (ds) => {
        const node = await ds.upsertAttestedNode(attestation("22"));
        const banned = await ds.setNodeBanned(node.spiffeId, true);
        assert.equal(banned.banned, true);
        assert.ok(banned.revision > node.revision);
        const refused = await rejectsWith(
          ds.upsertAttestedNode(attestation("22", { svidSerial: "99" })),
          "NODE_BANNED",
        );
        assert.equal(refused.category, "permission_denied");
        assert.deepEqual(
          await ds.getAttestedNode(node.spiffeId),
          banned,
          "the refused attestation changed nothing",
        );
        assert.deepEqual(await ds.setNodeBanned(node.spiffeId, true), banned);
        const unbanned = await ds.setNodeBanned(node.spiffeId, false);
        assert.equal(unbanned.banned, false);
        assert.equal((await ds.upsertAttestedNode(attestation("22", { svidSerial: "99" }))).svidSerial, "99");
        await rejectsWith(ds.setNodeBanned(id("/hallmark/agent/tpm/none"), true), "NOT_FOUND");
      }));

    it("evicts: the node is forgotten and may attest again as new", () =>
      withDatastore(async (ds, _db, clock) => {
        const node = await ds.upsertAttestedNode(attestation("33"));
        await ds.setNodeBanned(node.spiffeId, true);
        const evicted = await ds.evictAttestedNode(node.spiffeId);
        assert.equal(evicted.banned, true);
        assert.equal(await ds.getAttestedNode(node.spiffeId), undefined);
        assert.deepEqual(
          (await ds.listAttestedNodes({ selectors: { match: "any", selectors: node.selectors } })).items,
          [],
        );
        await rejectsWith(ds.evictAttestedNode(node.spiffeId), "NOT_FOUND");
        clock.advance(60_000);
        const again = await ds.upsertAttestedNode(attestation("33"));
        assert.equal(again.createdAtMs, clock.nowMs());
        assert.equal(again.banned, false);
      }));

    it("lists nodes by ban flag and selectors, in pages", () =>
      withDatastore(async (ds) => {
        const nodes = [];
        for (const b of ["01", "02", "03", "04", "05"])
          nodes.push(await ds.upsertAttestedNode(attestation(b)));
        await ds.setNodeBanned(nodes[1]?.spiffeId ?? AGENT, true);
        await ds.setNodeBanned(nodes[3]?.spiffeId ?? AGENT, true);
        const ids = (list: { items: readonly { spiffeId: SpiffeId }[] }): string[] =>
          list.items.map((n) => n.spiffeId.toString());
        assert.deepEqual(
          ids(await ds.listAttestedNodes({ banned: true })),
          [nodes[1], nodes[3]].map((n) => n?.spiffeId.toString()),
        );
        assert.equal((await ds.listAttestedNodes({ banned: false })).items.length, 3);
        const one = nodes[2];
        assert.ok(one);
        assert.deepEqual(
          ids(
            await ds.listAttestedNodes({
              selectors: { match: "superset", selectors: [one.selectors[0] ?? sel("x:y")] },
            }),
          ),
          [one.spiffeId.toString()],
        );
        assert.equal(
          (
            await ds.listAttestedNodes({
              selectors: { match: "superset", selectors: [sel("tpm:manufacturer:id:53544D20")] },
            })
          ).items.length,
          5,
        );
        const first = await ds.listAttestedNodes({}, { pageSize: 2 });
        assert.equal(first.items.length, 2);
        assert.ok(first.nextPageToken !== undefined);
        const second = await ds.listAttestedNodes({}, { pageSize: 10, pageToken: first.nextPageToken });
        assert.deepEqual([...ids(first), ...ids(second)], nodes.map((n) => n.spiffeId.toString()).sort());
      }));

    it("validates a node at its boundary", () =>
      withDatastore(async (ds) => {
        await rejectsWith(
          ds.upsertAttestedNode(attestation("44", { ekHash: "AB".repeat(32) })),
          "INVALID_RECORD",
          /ekHash/,
        );
        await rejectsWith(
          ds.upsertAttestedNode(attestation("44", { agentKey: Buffer.from("not a key") })),
          "INVALID_RECORD",
          /agentKey/,
        );
        await rejectsWith(
          ds.upsertAttestedNode(attestation("44", { svidSerial: "0x12" })),
          "INVALID_RECORD",
          /svidSerial/,
        );
        await rejectsWith(
          ds.upsertAttestedNode(attestation("44", { svidExpiresAtMs: Number.NaN })),
          "INVALID_RECORD",
        );
        await rejectsWith(ds.setNodeBanned(id("/n"), "yes" as unknown as boolean), "INVALID_RECORD");
        assert.equal(await ds.currentRevision(), 0);
      }));
  });
}

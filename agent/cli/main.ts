#!/usr/bin/env -S node --max-semi-space-size=1 --heap-growing-percent=50
// V8 sized for a daemon whose work comes in bursts (the initial sync of 10,000 entries, a batch of
// renewals). Figures from scripts/bench/agent-memory.ts, 10,000 entries, against node's defaults:
// - --max-semi-space-size=1: a young generation of 2 x 1 MiB instead of 2 x 16 MiB, all of which a
//   burst leaves resident.
// - --heap-growing-percent=50: the old generation grows by half its live size before V8 collects
//   it, not by up to 4 times, so a burst's garbage (and the ArrayBuffers it holds outside the heap)
//   is collected during the burst rather than some 10 s after it.
// VmRSS once all 10,000 SVIDs are in: ~120 MiB instead of ~192 (the goal is 143); after a full GC
// ~101-109 instead of ~143. The price: ~0.7 s more CPU over that initial sync (~5.0 s instead of
// ~4.3), of which ~0.3 s GC pauses (8 full collections instead of 2); renewals cost the same per
// SVID, spread over the hour.
// env -S needs coreutils >= 8.30. Run as `node dist/agent/cli/main.js`, give node these flags yourself.
import { runCli } from "../../common/cli/program.js";
import { buildAgentCli } from "./program.js";

process.exitCode = await runCli(buildAgentCli(), process.argv.slice(2));

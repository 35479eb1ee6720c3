import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SseParser } from "./sse-parser.js";

describe("SseParser", () => {
  it("dispatches events split across chunks at any byte, CRLF or LF", () => {
    const text =
      'id: 1\r\nevent: revocation\r\ndata: {"a":1}\r\n\r\n: a comment\nevent: heartbeat\ndata: x\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      assert.deepEqual(
        events,
        [
          { type: "revocation", data: '{"a":1}', lastEventId: "1" },
          { type: "heartbeat", data: "x", lastEventId: "1" },
        ],
        `cut at ${cut}`,
      );
    }
  });

  it("joins multi-line data, defaults the type to message and skips events without data", () => {
    const parser = new SseParser("7");
    assert.deepEqual(parser.push("retry: 1000\n\ndata: a\ndata:b\n\n"), [
      { type: "message", data: "a\nb", lastEventId: "7" },
    ]);
  });
});

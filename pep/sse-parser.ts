/** One dispatched Server-Sent Event (WHATWG HTML "Server-sent events", the parsing rules). */
export interface SseEvent {
  readonly type: string;
  readonly data: string;
  /** The stream's last event id after this event (ids persist across events until changed). */
  readonly lastEventId: string | undefined;
}

/**
 * Turns the text of an event stream, in chunks as they arrive, into events. Comments (`:` lines)
 * and `retry:` are consumed and ignored: the client has its own backoff.
 */
export class SseParser {
  #buffer = "";
  #type = "";
  #data: string[] = [];
  #hasData = false;
  #lastEventId: string | undefined;

  constructor(lastEventId?: string) {
    this.#lastEventId = lastEventId;
  }

  push(chunk: string): SseEvent[] {
    this.#buffer += chunk;
    const events: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (match === null || (match[0] === "\r" && match.index === this.#buffer.length - 1)) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const event = this.#line(line);
      if (event !== undefined) events.push(event);
    }
    return events;
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#type = value;
        break;
      case "data":
        this.#data.push(value);
        this.#hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventId = value;
        break;
      default:
        break;
    }
    return undefined;
  }

  #dispatch(): SseEvent | undefined {
    const event: SseEvent | undefined = this.#hasData
      ? {
          type: this.#type === "" ? "message" : this.#type,
          data: this.#data.join("\n"),
          lastEventId: this.#lastEventId,
        }
      : undefined;
    this.#type = "";
    this.#data = [];
    this.#hasData = false;
    return event;
  }
}

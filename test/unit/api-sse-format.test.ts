import { describe, expect, it } from "vitest";
import { sseComment, sseMessage, sseRetry } from "../../src/api/stream/sse-format.js";
import { SseParser } from "../support/sse-parser.js";

function parse(text: string): SseParser {
  const parser = new SseParser();
  parser.push(text);
  return parser;
}

describe("sse-format", () => {
  it("writes id, event and data lines and ends with a blank line", () => {
    expect(sseMessage({ id: 42, event: "status", data: '{"a":1}' })).toBe(
      'id: 42\nevent: status\ndata: {"a":1}\n\n',
    );
  });

  it("splits multi-line data into one data: line per line, which the client joins again", () => {
    const data = "first\nsecond\r\nthird\rfourth\n\nsixth";
    const text = sseMessage({ event: "event", data });
    expect(text).toBe(
      "event: event\ndata: first\ndata: second\ndata: third\ndata: fourth\ndata: \ndata: sixth\n\n",
    );
    const parsed = parse(text).events;
    expect(parsed).toHaveLength(1);
    // The client joins with LF: CRLF and CR inside data come back as LF.
    expect(parsed[0]?.data).toBe("first\nsecond\nthird\nfourth\n\nsixth");
  });

  it("keeps an empty data as one event with empty data", () => {
    const parsed = parse(sseMessage({ data: "" })).events;
    expect(parsed).toEqual([{ event: "message", data: "", lastEventId: "" }]);
  });

  it("keeps data that starts with a space or a colon intact", () => {
    const data = " leading space\n: not a comment\ndata: nested";
    const parsed = parse(sseMessage({ event: "x", data })).events;
    expect(parsed[0]?.data).toBe(data);
  });

  it("never lets a line break in id or event start a new field or end the message", () => {
    const hostileEvent = "status\n\ndata: forged\n\nevent: evil";
    const hostileId = "7\r\nevent: reset\rdata: x\n\n";
    const text = sseMessage({ id: hostileId, event: hostileEvent, data: "real" });
    // Exactly one blank line: the end of this message.
    expect(text.match(/\n\n/g)).toHaveLength(1);
    expect(text.endsWith("\n\n")).toBe(true);
    const parser = parse(text);
    expect(parser.events).toHaveLength(1);
    expect(parser.events[0]?.data).toBe("real");
    expect(parser.events[0]?.event).toBe("status  data: forged  event: evil");
    expect(parser.events[0]?.lastEventId).toBe("7  event: reset data: x  ");
  });

  it("removes NUL from an id, which a client would otherwise ignore", () => {
    const parser = parse(sseMessage({ id: "1\u00002", data: "d" }));
    expect(parser.events[0]?.lastEventId).toBe("1 2");
  });

  it("leaves out an event name that is empty after cleaning", () => {
    expect(sseMessage({ event: "", data: "d" })).toBe("data: d\n\n");
  });

  it("round-trips arbitrary strings through a spec parser", () => {
    const alphabet = ["a", " ", ":", "\n", "\r", "\r\n", "é", "\u0000", "data: ", "id: ", "{", '"'];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let round = 0; round < 500; round++) {
      const pick = (n: number) =>
        Array.from({ length: n }, () => alphabet[next() % alphabet.length]).join("");
      const data = pick(next() % 12);
      const event = pick(next() % 6);
      const id = pick(next() % 6);
      const parser = new SseParser();
      const text = sseMessage({ id, event, data });
      // Feed in two chunks at a random cut, as a socket would.
      const cut = next() % (text.length + 1);
      parser.push(text.slice(0, cut));
      parser.push(text.slice(cut));
      expect(parser.events).toHaveLength(1);
      expect(parser.events[0]?.data).toBe(data.replace(/\r\n|\r/g, "\n"));
      // eslint-disable-next-line no-control-regex
      expect(parser.events[0]?.lastEventId).toBe(id.replace(/[\r\n\u0000]/g, " "));
    }
  });

  it("writes retry and comment lines the client does not dispatch", () => {
    const parser = parse(sseRetry(2000) + sseComment("hb") + sseMessage({ retry: 1500, data: "x" }));
    expect(parser.retry).toBe(1500);
    expect(parser.comments).toEqual(["hb"]);
    expect(parser.events).toHaveLength(1);
    expect(sseComment("hb")).toBe(": hb\n\n");
    expect(sseComment("a\nb")).toBe(": a\n: b\n\n");
    expect(() => sseRetry(-1)).toThrow(/whole number/);
  });
});

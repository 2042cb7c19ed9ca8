/**
 * One Server-Sent Events message as wire text (design §7; WHATWG HTML "Server-sent events",
 * §9.2.5 "Parsing an event stream"). Pure. The parser splits lines on CR, LF and CRLF, so a
 * CR or LF inside a field would end the field and start another: `data` is split into one
 * `data:` line per line (the client joins them with "\n" again), while `id` and `event` are
 * single-line by nature and lose any line breaks. An `id` with a NUL is ignored by the client
 * (§9.2.6), so NUL is removed too. A message ends with a blank line.
 */
export interface SseMessage {
  id?: string | number | undefined;
  event?: string | undefined;
  data: string;
  /** Reconnection time in ms (the client's EventSource waits this long before reconnecting). */
  retry?: number | undefined;
}

/** Any line break the parser knows (CRLF, lone CR, lone LF). */
const LINE_BREAK = /\r\n|\r|\n/;
// eslint-disable-next-line no-control-regex
const NOT_IN_FIELD = /[\r\n\u0000]/g;

export function sseMessage(message: SseMessage): string {
  let text = "";
  if (message.retry !== undefined && Number.isInteger(message.retry) && message.retry >= 0) {
    text += `retry: ${message.retry}\n`;
  }
  if (message.id !== undefined) text += `id: ${singleLine(String(message.id))}\n`;
  if (message.event !== undefined) {
    const event = singleLine(message.event);
    // An empty event name means "message" to the client: say nothing rather than "event: ".
    if (event !== "") text += `event: ${event}\n`;
  }
  for (const line of message.data.split(LINE_BREAK)) text += `data: ${line}\n`;
  return `${text}\n`;
}

/** A `retry:` line alone: tells the client how long to wait before it reconnects. */
export function sseRetry(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`retry must be a whole number of ms, got ${ms}`);
  return `retry: ${ms}\n\n`;
}

/**
 * A comment line (ignored by the client): the heartbeat `: hb` that keeps proxies from closing
 * an idle connection. Each line of the text becomes its own comment line.
 */
export function sseComment(text: string): string {
  return `${text
    .split(LINE_BREAK)
    .map((line) => `: ${line}\n`)
    .join("")}\n`;
}

function singleLine(text: string): string {
  return text.replace(NOT_IN_FIELD, " ");
}

import { PaviseError } from "../../util/errors.js";

/**
 * The strongSwan VICI wire format (strongSwan src/libcharon/plugins/vici/README.md), without I/O.
 *
 * A packet on the stream is a 4-byte big-endian length, then that many bytes: a 1-byte packet
 * type, a 1-byte-length name for the named types, and for requests, responses and events a
 * message. A message is a flat run of elements that opens and closes sections and lists:
 *
 *   SECTION_START  1  name(u8 len)         KEY_VALUE  3  key(u8 len) value(u16 len)
 *   SECTION_END    2                        LIST_START 4  name(u8 len)
 *   LIST_ITEM      5  value(u16 len)        LIST_END   6
 *
 * We map a message onto a plain object: sections are objects, lists are string arrays, values
 * are strings (UTF-8; charon's values are text for everything the lab asks for).
 *
 * The decoder never throws: a peer that sends garbage gets a `{ ok: false }` result with the
 * offset of the first bad byte, so the client can close the connection with a clear error.
 */

export type ViciValue = string | string[] | ViciSection;
export interface ViciSection {
  [key: string]: ViciValue;
}

export const PacketType = {
  CMD_REQUEST: 0,
  CMD_RESPONSE: 1,
  CMD_UNKNOWN: 2,
  EVENT_REGISTER: 3,
  EVENT_UNREGISTER: 4,
  EVENT_CONFIRM: 5,
  EVENT_UNKNOWN: 6,
  EVENT: 7,
} as const;

export const ElementType = {
  SECTION_START: 1,
  SECTION_END: 2,
  KEY_VALUE: 3,
  LIST_START: 4,
  LIST_ITEM: 5,
  LIST_END: 6,
} as const;

/** charon drops a connection whose packet is longer than this (vici_socket.h). */
export const VICI_MAX_PACKET = 512 * 1024;

export type ViciPacket =
  | { type: "cmd-request"; command: string; message: ViciSection }
  | { type: "cmd-response"; message: ViciSection }
  | { type: "cmd-unknown" }
  | { type: "event-register"; event: string }
  | { type: "event-unregister"; event: string }
  | { type: "event-confirm" }
  | { type: "event-unknown" }
  | { type: "event"; event: string; message: ViciSection };

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: string; offset: number };

// ---------------------------------------------------------------------------------------------
// Encoding: our own input, so a value the format cannot carry is a programming error (thrown).

class Writer {
  private readonly parts: Buffer[] = [];

  byte(value: number): void {
    this.parts.push(Buffer.of(value));
  }

  /** A string with a 1-byte (names, keys) or 2-byte (values) big-endian length prefix. */
  sized(text: string, lengthBytes: 1 | 2, what: string): void {
    const bytes = Buffer.from(text, "utf8");
    const max = lengthBytes === 1 ? 0xff : 0xffff;
    if (bytes.length > max) {
      throw new PaviseError("VICI_ENCODE_INVALID", `${what} is ${bytes.length} bytes, VICI allows ${max}`, {
        where: { value: text.length > 40 ? `${text.slice(0, 40)}…` : text },
      });
    }
    const prefix = Buffer.alloc(lengthBytes);
    if (lengthBytes === 1) prefix.writeUInt8(bytes.length);
    else prefix.writeUInt16BE(bytes.length);
    this.parts.push(prefix, bytes);
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function writeSection(w: Writer, section: ViciSection, path: string): void {
  for (const [key, value] of Object.entries(section)) {
    const where = path ? `${path}.${key}` : key;
    if (typeof value === "string") {
      w.byte(ElementType.KEY_VALUE);
      w.sized(key, 1, `key ${where}`);
      w.sized(value, 2, `value of ${where}`);
    } else if (Array.isArray(value)) {
      w.byte(ElementType.LIST_START);
      w.sized(key, 1, `list name ${where}`);
      for (const item of value) {
        if (typeof item !== "string") {
          throw new PaviseError(
            "VICI_ENCODE_INVALID",
            `list ${where} holds a ${typeof item}; VICI lists hold strings`,
          );
        }
        w.byte(ElementType.LIST_ITEM);
        w.sized(item, 2, `item of ${where}`);
      }
      w.byte(ElementType.LIST_END);
    } else if (typeof value === "object" && value !== null) {
      w.byte(ElementType.SECTION_START);
      w.sized(key, 1, `section name ${where}`);
      writeSection(w, value, where);
      w.byte(ElementType.SECTION_END);
    } else {
      throw new PaviseError("VICI_ENCODE_INVALID", `${where} is a ${typeof value}; VICI carries strings`, {
        hint: 'convert numbers and booleans to strings (charon expects e.g. "yes", "10000")',
      });
    }
  }
}

/** The message part of a packet: elements only, no length or type. */
export function encodeMessage(message: ViciSection): Buffer {
  const w = new Writer();
  writeSection(w, message, "");
  return w.bytes();
}

/** A whole packet as written to the socket, length prefix included. */
export function encodePacket(packet: ViciPacket): Buffer {
  const w = new Writer();
  switch (packet.type) {
    case "cmd-request":
      w.byte(PacketType.CMD_REQUEST);
      w.sized(packet.command, 1, "command name");
      writeSection(w, packet.message, "");
      break;
    case "cmd-response":
      w.byte(PacketType.CMD_RESPONSE);
      writeSection(w, packet.message, "");
      break;
    case "cmd-unknown":
      w.byte(PacketType.CMD_UNKNOWN);
      break;
    case "event-register":
      w.byte(PacketType.EVENT_REGISTER);
      w.sized(packet.event, 1, "event name");
      break;
    case "event-unregister":
      w.byte(PacketType.EVENT_UNREGISTER);
      w.sized(packet.event, 1, "event name");
      break;
    case "event-confirm":
      w.byte(PacketType.EVENT_CONFIRM);
      break;
    case "event-unknown":
      w.byte(PacketType.EVENT_UNKNOWN);
      break;
    case "event":
      w.byte(PacketType.EVENT);
      w.sized(packet.event, 1, "event name");
      writeSection(w, packet.message, "");
      break;
  }
  const body = w.bytes();
  if (body.length > VICI_MAX_PACKET) {
    throw new PaviseError(
      "VICI_ENCODE_INVALID",
      `packet is ${body.length} bytes, charon accepts ${VICI_MAX_PACKET}`,
    );
  }
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

// ---------------------------------------------------------------------------------------------
// Decoding: untrusted input, every read is bounds-checked and failures are values.

class Failure {
  constructor(
    readonly error: string,
    readonly offset: number,
  ) {}
}

class Reader {
  offset = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  byte(what: string): number | Failure {
    if (this.remaining < 1) return new Failure(`truncated: expected ${what}`, this.offset);
    return this.buf.readUInt8(this.offset++);
  }

  sized(lengthBytes: 1 | 2, what: string): string | Failure {
    const start = this.offset;
    if (this.remaining < lengthBytes) return new Failure(`truncated: expected length of ${what}`, start);
    const length = lengthBytes === 1 ? this.buf.readUInt8(start) : this.buf.readUInt16BE(start);
    if (this.remaining - lengthBytes < length) {
      return new Failure(
        `truncated: ${what} says ${length} bytes, ${this.remaining - lengthBytes} left`,
        start,
      );
    }
    this.offset += lengthBytes + length;
    return this.buf.toString("utf8", start + lengthBytes, start + lengthBytes + length);
  }
}

/**
 * Sets an own property even for names like "__proto__", which plain assignment would turn into
 * a prototype change: key names come from the peer.
 */
function define(target: ViciSection, key: string, value: ViciValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function readMessage(r: Reader): ViciSection | Failure {
  const root: ViciSection = {};
  // Open sections, innermost last; iterative so that deep nesting cannot overflow the stack.
  const stack: { section: ViciSection; name: string }[] = [{ section: root, name: "" }];
  let list: string[] | undefined;

  while (r.remaining > 0) {
    const at = r.offset;
    const type = r.byte("element type");
    if (type instanceof Failure) return type;
    const current = stack[stack.length - 1];
    if (current === undefined) return new Failure("internal: no open section", at);

    if (list !== undefined) {
      if (type === ElementType.LIST_ITEM) {
        const item = r.sized(2, "list item");
        if (item instanceof Failure) return item;
        list.push(item);
      } else if (type === ElementType.LIST_END) {
        list = undefined;
      } else {
        return new Failure(`element type ${type} inside a list (only LIST_ITEM or LIST_END allowed)`, at);
      }
      continue;
    }

    switch (type) {
      case ElementType.SECTION_START: {
        const name = r.sized(1, "section name");
        if (name instanceof Failure) return name;
        const section: ViciSection = {};
        define(current.section, name, section);
        stack.push({ section, name });
        break;
      }
      case ElementType.SECTION_END:
        if (stack.length === 1) return new Failure("SECTION_END without an open section", at);
        stack.pop();
        break;
      case ElementType.KEY_VALUE: {
        const key = r.sized(1, "key");
        if (key instanceof Failure) return key;
        const value = r.sized(2, `value of ${key}`);
        if (value instanceof Failure) return value;
        define(current.section, key, value);
        break;
      }
      case ElementType.LIST_START: {
        const name = r.sized(1, "list name");
        if (name instanceof Failure) return name;
        list = [];
        define(current.section, name, list);
        break;
      }
      case ElementType.LIST_ITEM:
      case ElementType.LIST_END:
        return new Failure(`element type ${type} outside a list`, at);
      default:
        return new Failure(`unknown element type ${type}`, at);
    }
  }

  if (list !== undefined) return new Failure("truncated: list not closed", r.offset);
  const open = stack[stack.length - 1];
  if (stack.length > 1 && open) return new Failure(`truncated: section ${open.name} not closed`, r.offset);
  return root;
}

function asResult<T>(value: T | Failure): DecodeResult<T> {
  return value instanceof Failure
    ? { ok: false, error: value.error, offset: value.offset }
    : { ok: true, value };
}

/** Decodes the elements of one message (what follows the packet type and name). */
export function decodeMessage(bytes: Uint8Array): DecodeResult<ViciSection> {
  return asResult(readMessage(new Reader(toBuffer(bytes))));
}

/**
 * Decodes one packet body: the bytes after the 4-byte length, as the frame splitter yields
 * them. Offsets in errors count from the start of the body.
 */
export function decodePacket(body: Uint8Array): DecodeResult<ViciPacket> {
  return asResult(readPacket(new Reader(toBuffer(body))));
}

function readPacket(r: Reader): ViciPacket | Failure {
  const type = r.byte("packet type");
  if (type instanceof Failure) return type;
  // Confirmations and "unknown" answers are the type byte alone; anything after it is garbage.
  const alone = (packet: ViciPacket): ViciPacket | Failure =>
    r.remaining === 0 ? packet : new Failure(`${r.remaining} stray bytes after ${packet.type}`, r.offset);

  switch (type) {
    case PacketType.CMD_REQUEST: {
      const command = r.sized(1, "command name");
      if (command instanceof Failure) return command;
      const message = readMessage(r);
      return message instanceof Failure ? message : { type: "cmd-request", command, message };
    }
    case PacketType.CMD_RESPONSE: {
      const message = readMessage(r);
      return message instanceof Failure ? message : { type: "cmd-response", message };
    }
    case PacketType.EVENT: {
      const event = r.sized(1, "event name");
      if (event instanceof Failure) return event;
      const message = readMessage(r);
      return message instanceof Failure ? message : { type: "event", event, message };
    }
    case PacketType.EVENT_REGISTER:
    case PacketType.EVENT_UNREGISTER: {
      const event = r.sized(1, "event name");
      if (event instanceof Failure) return event;
      return alone({
        type: type === PacketType.EVENT_REGISTER ? "event-register" : "event-unregister",
        event,
      });
    }
    case PacketType.CMD_UNKNOWN:
      return alone({ type: "cmd-unknown" });
    case PacketType.EVENT_CONFIRM:
      return alone({ type: "event-confirm" });
    case PacketType.EVENT_UNKNOWN:
      return alone({ type: "event-unknown" });
    default:
      return new Failure(`unknown packet type ${type}`, 0);
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---------------------------------------------------------------------------------------------
// Framing: a stream socket delivers packets in arbitrary pieces.

export type SplitResult = { ok: true; packets: Buffer[] } | { ok: false; error: string };

/**
 * Cuts a byte stream into packet bodies. Feed it every chunk the socket delivers; it returns the
 * packets completed so far (length prefix removed) and keeps the rest. A length above
 * VICI_MAX_PACKET means the stream is corrupt or not VICI at all: the splitter then fails for
 * good, since there is no way to find the next packet boundary again.
 */
export class ViciFrameSplitter {
  private pending: Buffer = Buffer.alloc(0);
  private failure: string | undefined;

  push(chunk: Uint8Array): SplitResult {
    if (this.failure !== undefined) return { ok: false, error: this.failure };
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const packets: Buffer[] = [];
    let offset = 0;
    while (this.pending.length - offset >= 4) {
      const length = this.pending.readUInt32BE(offset);
      if (length > VICI_MAX_PACKET) {
        this.failure = `packet length ${length} exceeds the VICI limit of ${VICI_MAX_PACKET} bytes`;
        this.pending = Buffer.alloc(0);
        return { ok: false, error: this.failure };
      }
      if (this.pending.length - offset - 4 < length) break;
      // Copy out so that a yielded packet does not pin the whole accumulated buffer.
      packets.push(Buffer.from(this.pending.subarray(offset + 4, offset + 4 + length)));
      offset += 4 + length;
    }
    this.pending = Buffer.from(this.pending.subarray(offset));
    return { ok: true, packets };
  }

  /** Bytes received that do not yet form a whole packet. */
  get buffered(): number {
    return this.pending.length;
  }
}

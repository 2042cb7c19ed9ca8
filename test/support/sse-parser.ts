// The parser lives in src (the CLI follows the stream with it); tests import it from here as before.
export * from "../../src/api/stream/sse-parser.js";

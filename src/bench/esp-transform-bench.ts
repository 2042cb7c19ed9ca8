#!/usr/bin/env node
/**
 * Micro-benchmark of the pure ESP transforms (src/esp/core/esp-transform.ts): packets per second
 * for `seal` and `open` of a 1400-byte inner packet, per suite, on one core. Not a test: run it
 * by hand and compare with FACTS.md ("Node building blocks, one core").
 *
 *   npm run build && node dist/bench/esp-transform-bench.js [--ms 1000]
 */
import { parseArgs } from "node:util";
import { EncrId, IntegId } from "../ike/crypto/transforms.js";
import { createEspTransform, type EspTransformKeys } from "../esp/core/esp-transform.js";

const SUITES: readonly { name: string; keys: EspTransformKeys }[] = [
  ["aes128gcm16", EncrId.AES_GCM_16, 128, undefined, 20, 0],
  ["aes256gcm16", EncrId.AES_GCM_16, 256, undefined, 36, 0],
  ["chacha20poly1305", EncrId.CHACHA20_POLY1305, undefined, undefined, 36, 0],
  ["aes128-sha256", EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128, 16, 32],
  ["aes256-sha256", EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_256_128, 32, 32],
  ["aes256-sha512", EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, 32, 64],
].map(([name, id, keyLength, integ, encBytes, macBytes]) => ({
  name: name as string,
  keys: {
    encr: { id: id as number, keyLength: keyLength as number | undefined },
    integ: integ as number | undefined,
    esn: true,
    encKey: new Uint8Array(encBytes as number).fill(0x5a),
    integKey: new Uint8Array(macBytes as number).fill(0xa5),
  },
}));

function rate(ms: number, step: (i: number) => void): number {
  for (let i = 0; i < 2000; i++) step(i); // warm-up
  let count = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 256; i++) step(count++);
    elapsed = process.hrtime.bigint() - start;
  }
  return (count * 1e9) / Number(elapsed);
}

function main(): void {
  const { values } = parseArgs({ options: { ms: { type: "string", default: "1000" } } });
  const ms = Number(values.ms);
  const payload = new Uint8Array(1400).fill(0x42);
  payload[0] = 0x45;
  payload[2] = 1400 >>> 8;
  payload[3] = 1400 & 0xff;
  console.log(`ESP transforms, 1400-byte inner packet, ${ms} ms per measurement (node ${process.version})`);
  console.log(
    "suite".padEnd(18) + "seal pkt/s".padStart(12) + "open pkt/s".padStart(12) + "seal Mbit/s".padStart(13),
  );
  for (const suite of SUITES) {
    const transform = createEspTransform(suite.keys);
    const iv = new Uint8Array(transform.ivLength);
    const seal = (i: number): Uint8Array => {
      iv[iv.length - 1] = i;
      iv[iv.length - 2] = i >>> 8;
      return transform.seal({ spi: 0x1000, seq: i + 1, iv, payload, nextHeader: 4 });
    };
    const sealed = Array.from({ length: 64 }, (_, i) => seal(i));
    const sealRate = rate(ms, seal);
    const openRate = rate(ms, (i) => {
      const result = transform.open(sealed[i & 63]!, 0);
      if (!result.ok) throw new Error(`open failed: ${result.reason}`);
    });
    console.log(
      suite.name.padEnd(18) +
        Math.round(sealRate).toLocaleString("en").padStart(12) +
        Math.round(openRate).toLocaleString("en").padStart(12) +
        ((sealRate * 1400 * 8) / 1e6).toFixed(0).padStart(13),
    );
  }
}

main();

/**
 * Distinguished names (src/ike/auth/distinguished-name.ts) and the DER reader under them:
 * text → DER byte-for-byte against subjects of certificates made by strongSwan's pki and by
 * openssl (test/unit/fixtures/pki), DER → text against what `pki --print` shows, semantic
 * comparison across string types, and a reader that never throws on bad DER.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DerTag, decodeOid, decodeTime, readNode, readWhole } from "../../src/ike/auth/der-reader.js";
import { derOid, derSequence, derSetOf, derTlv, oidContent } from "../../src/ike/auth/der-writer.js";
import {
  decodeDn,
  dnEquals,
  dnFromText,
  encodeDn,
  formatDn,
  parseDn,
} from "../../src/ike/auth/distinguished-name.js";
import { parseCertificateFields } from "../../src/ike/auth/x509-fields.js";

const PKI = new URL("./fixtures/pki/", import.meta.url);

function certificateDer(name: string): Uint8Array {
  const bytes = readFileSync(new URL(`${name}.crt`, PKI));
  const text = bytes.toString("latin1");
  if (!text.includes("-----BEGIN")) return new Uint8Array(bytes);
  return new Uint8Array(Buffer.from(text.replace(/-----[A-Z ]+-----|\s/g, ""), "base64"));
}

function subjectOf(name: string): Uint8Array {
  const fields = parseCertificateFields(certificateDer(name));
  if (!fields.ok) throw new Error(`${name}: ${fields.error.message}`);
  return fields.value.subject;
}

function der(text: string, style: "strongswan" | "openssl" = "strongswan"): Uint8Array {
  const result = dnFromText(text, style);
  if (!result.ok) throw new Error(`${text}: ${result.error.message}`);
  return result.value;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** What `pki --print` showed for each fixture's subject (fixtures/pki/subjects.tsv). */
const pkiSubjects = new Map(
  readFileSync(new URL("subjects.tsv", PKI), "utf8")
    .trim()
    .split("\n")
    .map((line) => line.split("\t") as [string, string]),
);

describe("DN text → DER, against certificates made by strongSwan's pki", () => {
  for (const name of ["root", "intermediate", "moon", "sun", "mars", "expired", "other-root", "sub-ca"]) {
    it(`${name}: the text pki was given encodes to the certificate's subject octet for octet`, () => {
      const text = pkiSubjects.get(name);
      expect(text).toBeTruthy();
      expect(hex(der(text!))).toBe(hex(subjectOf(name)));
    });
  }

  it("venus: non-ASCII values become UTF8String, ASCII ones stay PrintableString (strongSwan's atodn)", () => {
    const subject = der("C=CH, O=Pavise Tëst, OU=Zürich, CN=venus.pavise.test");
    expect(hex(subject)).toBe(hex(subjectOf("venus")));
    const decoded = decodeDn(subject);
    expect(decoded.ok && decoded.value.map((rdn) => rdn[0]?.tag)).toEqual([
      DerTag.PRINTABLE_STRING,
      DerTag.UTF8_STRING,
      DerTag.UTF8_STRING,
      DerTag.PRINTABLE_STRING,
    ]);
  });

  it("the /-separated form, blanks and attribute-name case do not change the DER", () => {
    const expected = hex(subjectOf("moon"));
    for (const text of [
      "/C=CH/O=Pavise Test/CN=moon.pavise.test",
      "  C = CH ,O=Pavise Test,   CN=moon.pavise.test   ",
      "c=CH, o=Pavise Test, cn=moon.pavise.test",
      "countryName=CH, organizationName=Pavise Test, commonName=moon.pavise.test",
      "2.5.4.6=CH, 2.5.4.10=Pavise Test, 2.5.4.3=moon.pavise.test",
      'C=CH, O="Pavise Test", CN="moon.pavise.test"',
      "C=CH, O=Pavise\\20Test, CN=moon.pavise.test",
    ]) {
      expect(hex(der(text)), text).toBe(expected);
    }
  });

  it("encodeDn writes SEQUENCE OF SET OF SEQUENCE { OID, string } (hand-checked DER)", () => {
    expect(hex(encodeDn([{ oid: "2.5.4.3", value: "x" }]))).toBe("300c310a30080603550403130178");
    expect(hex(encodeDn([{ oid: "2.5.4.3", value: "é" }]))).toBe("300d310b300906035504030c02c3a9");
  });

  it("E, emailAddress and unstructuredName are IA5String; SN is surname and serialNumber 2.5.4.5", () => {
    const decoded = decodeDn(der("E=a@b.c, emailAddress=x@y.z, SN=Muster, serialNumber=123, UID=jd, DC=org"));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.map((rdn) => [rdn[0]?.oid, rdn[0]?.tag])).toEqual([
      ["1.2.840.113549.1.9.1", DerTag.IA5_STRING],
      ["1.2.840.113549.1.9.1", DerTag.IA5_STRING],
      ["2.5.4.4", DerTag.PRINTABLE_STRING],
      ["2.5.4.5", DerTag.PRINTABLE_STRING],
      ["0.9.2342.19200300.100.1.1", DerTag.PRINTABLE_STRING],
      ["0.9.2342.19200300.100.1.25", DerTag.PRINTABLE_STRING],
    ]);
  });

  it("characters outside PrintableString (@, _, &, *) make a UTF8String, as in strongSwan", () => {
    const decoded = decodeDn(der("CN=a_b, O=A&B, OU=*, L=x@y"));
    expect(decoded.ok && decoded.value.map((rdn) => rdn[0]?.tag)).toEqual([
      DerTag.UTF8_STRING,
      DerTag.UTF8_STRING,
      DerTag.UTF8_STRING,
      DerTag.UTF8_STRING,
    ]);
  });
});

describe("DN text → DER, OpenSSL string types", () => {
  it("doe (openssl req -utf8): escaped comma, UTF-8 O; equal to the certificate's subject", () => {
    const subject = hex(subjectOf("doe"));
    expect(hex(der("C=CH, O=Zürich AG, CN=Doe\\, John", "openssl"))).toBe(subject);
    expect(hex(der('C=CH, O=Zürich AG, CN="Doe, John"', "openssl"))).toBe(subject);
    expect(hex(der("/C=CH/O=Zürich AG/CN=Doe, John", "openssl"))).toBe(subject);
    expect(hex(der("C=CH, O=Z\\C3\\BCrich AG, CN=Doe\\2C John", "openssl"))).toBe(subject);
  });

  it("PrintableString for C only, UTF8String for the rest", () => {
    const decoded = decodeDn(der("C=CH, O=Pavise Test, CN=moon", "openssl"));
    expect(decoded.ok && decoded.value.map((rdn) => rdn[0]?.tag)).toEqual([
      DerTag.PRINTABLE_STRING,
      DerTag.UTF8_STRING,
      DerTag.UTF8_STRING,
    ]);
  });
});

describe("DN text errors", () => {
  const cases: [string, RegExp][] = [
    ["", /at least one/],
    ["   ", /at least one/],
    ["CN", /without "="/],
    ["=moon", /expected name=value/],
    ["XX=1", /unknown attribute type "XX"/],
    ["1.40.1=x", /unknown attribute type "1.40.1"/],
    ['CN="moon', /unterminated quoted value/],
    ['CN="moon" x, O=a', /after the quoted value/],
    ["CN=moon\\", /at the end of the value/],
    ["CN=\\C3", /not valid UTF-8/],
    ['CN=mo"on', /must be escaped/],
  ];
  for (const [text, message] of cases) {
    it(`${JSON.stringify(text)} is refused`, () => {
      const result = parseDn(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.message).toMatch(message);
    });
  }

  it("an empty value is allowed, as strongSwan allows it", () => {
    expect(parseDn("CN=, O=x")).toEqual({
      ok: true,
      value: [
        { oid: "2.5.4.3", value: "" },
        { oid: "2.5.4.10", value: "x" },
      ],
    });
  });

  it("escaped blanks at either end of a value are kept, unescaped ones dropped", () => {
    expect(parseDn("CN=\\ a b\\ , O= x ")).toEqual({
      ok: true,
      value: [
        { oid: "2.5.4.3", value: " a b " },
        { oid: "2.5.4.10", value: "x" },
      ],
    });
  });
});

describe("DER → text", () => {
  for (const [name, text] of pkiSubjects) {
    if (text === "" || text.includes("?") || name === "doe") continue;
    it(`${name}: as pki --print shows it`, () => {
      expect(formatDn(subjectOf(name))).toBe(text);
    });
  }

  it("UTF-8 values print as text (pki --print shows ?? for them)", () => {
    expect(formatDn(subjectOf("venus"))).toBe("C=CH, O=Pavise Tëst, OU=Zürich, CN=venus.pavise.test");
    expect(formatDn(subjectOf("doe"))).toBe("C=CH, O=Zürich AG, CN=Doe\\, John");
  });

  it("text → DER → text → DER is stable, including escapes", () => {
    for (const text of [
      "C=CH, O=Pavise Test, CN=moon.pavise.test",
      'CN=Doe\\, John, O=A\\\\B, OU=\\ padded\\ , L=Zürich, ST=quote\\"d, E=x@y.z',
      "CN=tab\\09here, O=1.2.3",
    ]) {
      const first = der(text);
      const again = der(formatDn(first));
      expect(hex(again), text).toBe(hex(first));
    }
  });

  it("bad DER prints as strongSwan prints it", () => {
    expect(formatDn(Uint8Array.of(0x30, 0x05, 0x31))).toBe("(invalid ID_DER_ASN1_DN)");
  });

  it("multi-valued RDNs print joined with +, unknown OIDs dotted, non-string values as #hex", () => {
    const name = derSequence(
      derSetOf(
        derSequence(derOid("2.5.4.3"), derTlv(DerTag.UTF8_STRING, new TextEncoder().encode("a"))),
        derSequence(derOid("2.5.4.11"), derTlv(DerTag.PRINTABLE_STRING, new TextEncoder().encode("b"))),
      ),
      derSetOf(derSequence(derOid("1.3.6.1.4.1.99.1"), derTlv(DerTag.OCTET_STRING, Uint8Array.of(1, 2)))),
    );
    expect(formatDn(name)).toBe("CN=a + OU=b, 1.3.6.1.4.1.99.1=#0102");
  });
});

describe("DN comparison", () => {
  const moon = "C=CH, O=Pavise Test, CN=moon.pavise.test";

  it("the same name in strongSwan and OpenSSL string types is equal, though the DER differs", () => {
    const a = der(moon, "strongswan");
    const b = der(moon, "openssl");
    expect(hex(a)).not.toBe(hex(b));
    expect(dnEquals(a, b)).toBe(true);
    expect(dnEquals(b, subjectOf("moon"))).toBe(true);
  });

  it("BMPString and UniversalString values equal their UTF8String spelling", () => {
    const utf16 = Buffer.from("Zürich", "utf16le").swap16();
    const utf32 = Uint8Array.from([..."Zürich"].flatMap((c) => [0, 0, 0, c.codePointAt(0)!]));
    const bmp = derSequence(derSetOf(derSequence(derOid("2.5.4.7"), derTlv(DerTag.BMP_STRING, utf16))));
    const universal = derSequence(
      derSetOf(derSequence(derOid("2.5.4.7"), derTlv(DerTag.UNIVERSAL_STRING, utf32))),
    );
    expect(dnEquals(bmp, der("L=Zürich"))).toBe(true);
    expect(dnEquals(universal, der("L=Zürich"))).toBe(true);
  });

  it("case is ignored between PrintableStrings and for emailAddress only (strongSwan's compare_dn)", () => {
    expect(dnEquals(der("CN=MOON"), der("CN=moon"))).toBe(true);
    expect(dnEquals(der("CN=MOON", "openssl"), der("CN=moon", "openssl"))).toBe(false);
    expect(dnEquals(der("E=Moon@Example.ORG", "openssl"), der("E=moon@example.org"))).toBe(true);
  });

  it("different values, order, attribute types or RDN counts differ", () => {
    expect(dnEquals(der(moon), der("C=CH, O=Pavise Test, CN=sun.pavise.test"))).toBe(false);
    expect(dnEquals(der(moon), der("O=Pavise Test, C=CH, CN=moon.pavise.test"))).toBe(false);
    expect(dnEquals(der(moon), der("C=CH, OU=Pavise Test, CN=moon.pavise.test"))).toBe(false);
    expect(dnEquals(der(moon), der("C=CH, O=Pavise Test"))).toBe(false);
    expect(dnEquals(der(moon), der(`${moon}, OU=x`))).toBe(false);
  });

  it("multi-valued RDNs compare as sets", () => {
    const cn = derSequence(derOid("2.5.4.3"), derTlv(DerTag.UTF8_STRING, new TextEncoder().encode("a")));
    const ou = derSequence(
      derOid("2.5.4.11"),
      derTlv(DerTag.PRINTABLE_STRING, new TextEncoder().encode("b")),
    );
    const ouUtf8 = derSequence(derOid("2.5.4.11"), derTlv(DerTag.UTF8_STRING, new TextEncoder().encode("b")));
    // Not DER-sorted on purpose: a sender may get the order wrong, the set is still the same.
    expect(
      dnEquals(derSequence(derTlv(DerTag.SET, cn, ou)), derSequence(derTlv(DerTag.SET, ouUtf8, cn))),
    ).toBe(true);
    expect(dnEquals(derSequence(derTlv(DerTag.SET, cn, ou)), derSequence(derSetOf(cn), derSetOf(ou)))).toBe(
      false,
    );
  });

  it("malformed DER equals nothing, not even itself", () => {
    const bad = Uint8Array.of(0x30, 0x03, 0x31, 0x01, 0x30);
    expect(dnEquals(bad, bad)).toBe(false);
  });
});

describe("strict DER reader", () => {
  const refused: [string, string, RegExp][] = [
    ["truncated", "3005310330", /only 3 remain/],
    ["indefinite length", "3080310000", /indefinite/],
    ["long form for a short length", "30810131", /shortest form/],
    ["leading zero length octet", "3082000131", /shortest form/],
    ["multi-octet tag", "1f8101", /multi-octet tag/],
    ["trailing octets", "30000000", /after the DER element/],
    ["empty", "", /end of the data/],
  ];
  for (const [what, bytes, message] of refused) {
    it(`refuses ${what}`, () => {
      const result = readWhole(Uint8Array.from(Buffer.from(bytes, "hex")));
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.message).toMatch(message);
    });
  }

  it("reads long-form lengths", () => {
    const content = new Uint8Array(300);
    const node = readNode(derTlv(DerTag.OCTET_STRING, content), 0);
    expect(node.ok && [node.value.contentStart, node.value.end]).toEqual([4, 304]);
  });

  it("decodes and encodes OIDs, including large arcs and the 2.x form", () => {
    for (const oid of [
      "1.2.840.113549.1.1.11",
      "2.5.4.3",
      "0.9.2342.19200300.100.1.25",
      "2.999.1",
      "1.3.6.1.4.1.55555.1",
    ]) {
      const decoded = decodeOid(oidContent(oid));
      expect(decoded.ok && decoded.value).toBe(oid);
    }
    expect(hex(derOid("1.2.840.113549.1.1.11"))).toBe("06092a864886f70d01010b");
    expect(decodeOid(Uint8Array.of(0x2a, 0x80, 0x01)).ok).toBe(false);
    expect(decodeOid(Uint8Array.of(0x2a, 0x86)).ok).toBe(false);
  });

  it("reads UTCTime and GeneralizedTime as RFC 5280 writes them, and nothing looser", () => {
    const t = (tag: number, s: string) => decodeTime(tag, new TextEncoder().encode(s));
    expect(t(DerTag.UTC_TIME, "491231235959Z")).toEqual({
      ok: true,
      value: new Date("2049-12-31T23:59:59Z"),
    });
    expect(t(DerTag.UTC_TIME, "500101000000Z")).toEqual({
      ok: true,
      value: new Date("1950-01-01T00:00:00Z"),
    });
    expect(t(DerTag.GENERALIZED_TIME, "20361231235959Z")).toEqual({
      ok: true,
      value: new Date("2036-12-31T23:59:59Z"),
    });
    expect(t(DerTag.UTC_TIME, "4912312359Z").ok).toBe(false);
    expect(t(DerTag.UTC_TIME, "491231235959+0100").ok).toBe(false);
    expect(t(DerTag.GENERALIZED_TIME, "20360231000000Z").ok).toBe(false);
  });

  it("never throws on mutated DNs and certificates (seeded fuzz)", () => {
    let seed = 0x5eed;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const samples = [
      subjectOf("venus"),
      subjectOf("doe"),
      certificateDer("moon"),
      certificateDer("intermediate"),
    ];
    for (let round = 0; round < 3000; round++) {
      const sample = samples[round % samples.length]!;
      const mutated = Uint8Array.from(sample.subarray(0, sample.length - random(3)));
      for (let k = 0; k < 1 + random(4); k++) mutated[random(mutated.length)] = random(256);
      expect(() => {
        decodeDn(mutated);
        formatDn(mutated);
        dnEquals(mutated, sample);
        parseCertificateFields(mutated);
      }).not.toThrow();
    }
  });
});

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EtcdError, etcdErrorFromGateway } from "../../src/cluster/etcd/errors.js";
import { GatewayAuth, isTokenRefused } from "../../src/cluster/etcd/gateway-auth.js";
import { useTempDirs } from "../support/temp-dirs.js";

const tempDirs = useTempDirs("pavise-auth-");

function passwordFile(text: string): string {
  const file = join(tempDirs.make(), "pw");
  writeFileSync(file, text);
  return file;
}

describe("etcd user tokens for the JSON gateway", () => {
  it("asks once for calls that come together, and again after etcd refused the token", async () => {
    const asked: unknown[] = [];
    let n = 0;
    const post = (path: string, body: unknown): Promise<unknown> => {
      expect(path).toBe("/v3/auth/authenticate");
      asked.push(body);
      return Promise.resolve({ token: `t${++n}` });
    };
    const file = passwordFile("s3cret\n");
    const auth = new GatewayAuth({ user: "n1", passwordFile: file });
    expect(auth.known).toBeUndefined();
    const [a, b] = await Promise.all([auth.current(post), auth.current(post)]);
    expect(auth.known).toBe("t1");
    expect([a, b]).toEqual(["t1", "t1"]);
    expect(asked).toEqual([{ name: "n1", password: "s3cret" }]);
    auth.refused("t0"); // an older token: nothing to forget
    expect(await auth.current(post)).toBe("t1");
    // A rotated password: the file is read again when a new token is asked for.
    writeFileSync(file, "rotated\n");
    auth.refused("t1");
    expect(await auth.current(post)).toBe("t2");
    expect(asked.at(-1)).toEqual({ name: "n1", password: "rotated" });
  });

  it("the clients of one process share a user's token", () => {
    const file = passwordFile("pw");
    const one = GatewayAuth.shared({ user: "n1", passwordFile: file });
    expect(GatewayAuth.shared({ user: "n1", passwordFile: file })).toBe(one);
    expect(GatewayAuth.shared({ user: "n2", passwordFile: file })).not.toBe(one);
  });

  it("a failed ask is not kept", async () => {
    const auth = new GatewayAuth({ user: "n1", passwordFile: passwordFile("pw") });
    let fail = true;
    const post = (): Promise<unknown> =>
      fail ? Promise.reject(new Error("unreachable")) : Promise.resolve({ token: "t" });
    await expect(auth.current(post)).rejects.toThrow("unreachable");
    fail = false;
    expect(await auth.current(post)).toBe("t");
  });

  it("refuses a missing or empty password file with the user and file named", () => {
    expect(() => new GatewayAuth({ user: "op", passwordFile: "/nonexistent/pw" })).toThrow(
      /password file of etcd user op, \/nonexistent\/pw/,
    );
    expect(() => new GatewayAuth({ user: "op", passwordFile: passwordFile("\n") })).toThrow(/is empty/);
  });

  it("maps etcd's refusals to stable codes; a refused token is asked for again", () => {
    const denied = etcdErrorFromGateway("etcdserver: permission denied", 7, "https://e:2379");
    expect(denied.code).toBe("ETCD_PERMISSION_DENIED");
    expect(denied.hint).toMatch(/role/);
    const badPassword = etcdErrorFromGateway(
      "etcdserver: authentication failed, invalid user ID or password",
      3,
      "https://e:2379",
    );
    expect(badPassword.code).toBe("ETCD_AUTH_FAILED");
    expect(isTokenRefused(badPassword)).toBe(false);
    const stale = etcdErrorFromGateway("etcdserver: invalid auth token", 16, "https://e:2379");
    expect(stale).toBeInstanceOf(EtcdError);
    expect(isTokenRefused(stale)).toBe(true);
  });
});

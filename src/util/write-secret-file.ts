import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { PaviseError } from "./errors.js";

/**
 * Writes a secret (a password hash, token digests, a key) for root only. Written whole or not at all (a temporary file in the same directory, then rename), mode 0600
 * from the start, so a reader never sees half a file or a moment of wider permissions.
 */
export async function writeSecretFile(file: string, content: string): Promise<void> {
  const temporary = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(temporary, content, { mode: 0o600, flag: "wx" });
    await chmod(temporary, 0o600);
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new PaviseError("SECRET_FILE_UNWRITABLE", `cannot write ${file}: ${(err as Error).message}`, {
      where: { file },
      hint: "run as root, or choose a directory you can write",
    });
  }
}

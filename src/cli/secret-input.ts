import { PaviseError } from "../util/errors.js";

/**
 * Reads a secret for a command: from the terminal without echo (twice, to catch a typo), or,
 * when stdin is not a terminal, its first line (`pavise api passwd alice --file F < pw.txt`,
 * or from a script's pipe). Never from an argument: argv is visible in `ps` and shell history.
 */
export interface SecretInput {
  /** Whether the secret is typed (then it is asked twice). */
  interactive: boolean;
  read(prompt: string): Promise<string>;
}

export function processSecretInput(): SecretInput {
  const stdin = process.stdin;
  if (stdin.isTTY) return { interactive: true, read: (prompt) => readFromTerminal(prompt) };
  let lines: Promise<string[]> | undefined;
  return {
    interactive: false,
    read: async () => {
      lines ??= readAll().then((text) => text.split(/\r?\n/));
      return (await lines)[0] ?? "";
    },
  };
}

async function readAll(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Raw mode: characters arrive one by one and are not echoed; Enter ends, Ctrl-C or Ctrl-D aborts. */
function readFromTerminal(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = "";
    const finish = (error?: Error): void => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (data: Buffer): void => {
      for (const char of data.toString("utf8")) {
        if (char === "\r" || char === "\n") return finish();
        if (char === "\u0003" || char === "\u0004")
          return finish(
            new PaviseError("CLI_ABORTED", "aborted: no secret was read", { hint: "run the command again" }),
          );
        if (char === "\u007f" || char === "\b") typed = [...typed].slice(0, -1).join("");
        else typed += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}

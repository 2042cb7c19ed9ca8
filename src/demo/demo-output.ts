/** The demo's output: numbered steps with the seconds since it began, and plain lines. */

const started = Date.now();

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function step(title: string): void {
  say(`\n[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${title}`);
}

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

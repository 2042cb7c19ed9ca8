// The few browser globals the tests' page functions (page.evaluate) use. The tests compile
// without lib DOM (it would leak browser globals into Node code), so a page function reads
// them through `globalThis as unknown as PageGlobals`; only the type is imported, nothing runs.

export interface PageGlobals {
  document: {
    activeElement: unknown;
    querySelector(selector: string): unknown;
  };
  MutationObserver: new (callback: () => void) => {
    observe(target: unknown, options: { subtree: boolean; childList: boolean; attributes: boolean }): void;
    disconnect(): void;
  };
  performance: { timeOrigin: number; now(): number };
  axe?: { run(): Promise<{ violations: { id: string; impact?: string | null; nodes: unknown[] }[] }> };
  /** Set by the tests themselves. */
  cardOnN2At?: number;
  sameDocument?: boolean;
}

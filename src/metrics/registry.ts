/**
 * Metric families for `/metrics` (design §2, §6): counters, gauges and histograms, each with a
 * fixed list of label names and a bounded number of label sets. Pure: no clock, no I/O; the
 * exposition (exposition.ts) turns a {@link MetricRegistry.collect} into text.
 *
 * Label values come only from configuration names or small enums (design §6); a family that
 * would grow past its bound drops the new label set and counts it (`droppedSeries`) rather
 * than grow without limit (Prometheus guidance: unbounded label values are a memory leak).
 */

export type MetricType = "counter" | "gauge" | "histogram";
export type LabelValues = Readonly<Record<string, string>>;

/** The latency buckets of design §6, in seconds. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/**
 * Event-loop lag, in seconds: fine below 5 ms, where design §12.1's rule ("lag p99 grows more
 * than 2 ms: move the API server into a worker") is read, and up to the fence budgets above.
 */
export const LOOP_LAG_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];
/** The failover buckets of design §6, in seconds. */
export const FAILOVER_BUCKETS: readonly number[] = [0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60];

/** One label set's value (counter, gauge). */
export interface ValueSample {
  labels: readonly (readonly [string, string])[];
  value: number;
}

/** One label set's histogram: cumulative counts per upper bound (ascending, +Inf last). */
export interface HistogramSample {
  labels: readonly (readonly [string, string])[];
  buckets: readonly { le: number; count: number }[];
  sum: number;
  count: number;
}

export type FamilySnapshot =
  | { name: string; help: string; type: "counter" | "gauge"; samples: ValueSample[] }
  | { name: string; help: string; type: "histogram"; samples: HistogramSample[] };

export interface FamilyOptions {
  /** Label names, in the order they are written. */
  labels?: readonly string[];
  /** Most label sets kept (default 1000). */
  maxSeries?: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

abstract class Family<S> {
  protected readonly series = new Map<string, { labels: [string, string][]; state: S }>();
  readonly labelNames: readonly string[];
  private readonly maxSeries: number;
  /** Label sets refused because the family was full. */
  droppedSeries = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    options: FamilyOptions,
  ) {
    if (!NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not a Prometheus name`);
    this.labelNames = options.labels ?? [];
    for (const label of this.labelNames) {
      // "le" is the histogram's own; names starting __ are reserved (Prometheus data model).
      if (!LABEL.test(label) || label.startsWith("__") || label === "le")
        throw new Error(`metric ${name}: label name ${JSON.stringify(label)} is not allowed`);
    }
    this.maxSeries = options.maxSeries ?? 1000;
  }

  /** The state of one label set, made on first use; undefined when the family is full. */
  protected child(values: LabelValues, fresh: () => S): S | undefined {
    const labels = this.labelNames.map((n): [string, string] => {
      const v = values[n];
      if (v === undefined) throw new Error(`metric ${this.name}: label ${n} has no value`);
      return [n, v];
    });
    if (Object.keys(values).length !== this.labelNames.length)
      throw new Error(
        `metric ${this.name}: labels ${Object.keys(values).join(",")} are not ${this.labelNames.join(",")}`,
      );
    const key = JSON.stringify(labels.map(([, v]) => v));
    const found = this.series.get(key);
    if (found) return found.state;
    if (this.series.size >= this.maxSeries) {
      this.droppedSeries += 1;
      return undefined;
    }
    const state = fresh();
    this.series.set(key, { labels, state });
    return state;
  }

  /** Forgets every label set (gauges rebuilt at each scrape). */
  clear(): void {
    this.series.clear();
  }
}

/** A value that only goes up (reset only by a restart of the process). */
export class CounterFamily extends Family<{ value: number }> {
  readonly type = "counter";

  inc(labels: LabelValues = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`metric ${this.name}: a counter cannot grow by ${by}`);
    const s = this.child(labels, () => ({ value: 0 }));
    if (s) s.value += by;
  }

  /**
   * Sets a counter kept elsewhere (a total read at scrape time). A smaller value than before is
   * ignored: a counter never goes down within one process.
   */
  setTotal(labels: LabelValues, total: number): void {
    const s = this.child(labels, () => ({ value: 0 }));
    if (s && total > s.value) s.value = total;
  }

  snapshot(): FamilySnapshot {
    return {
      name: this.name,
      help: this.help,
      type: "counter",
      samples: [...this.series.values()].map(({ labels, state }) => ({ labels, value: state.value })),
    };
  }
}

/** A value that goes up and down. */
export class GaugeFamily extends Family<{ value: number }> {
  readonly type = "gauge";

  set(labels: LabelValues, value: number): void {
    const s = this.child(labels, () => ({ value: 0 }));
    if (s) s.value = value;
  }

  snapshot(): FamilySnapshot {
    return {
      name: this.name,
      help: this.help,
      type: "gauge",
      samples: [...this.series.values()].map(({ labels, state }) => ({ labels, value: state.value })),
    };
  }
}

/** Observations counted into fixed buckets, with their sum and count. */
export class HistogramFamily extends Family<{ counts: number[]; sum: number; count: number }> {
  readonly type = "histogram";
  readonly bounds: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[], options: FamilyOptions = {}) {
    super(name, help, options);
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]) || (i > 0 && buckets[i]! <= buckets[i - 1]!))
        throw new Error(`metric ${name}: buckets must be finite and strictly ascending`);
    }
    this.bounds = [...buckets];
  }

  observe(labels: LabelValues, value: number): void {
    if (Number.isNaN(value)) return;
    const s = this.child(labels, () => ({ counts: this.bounds.map(() => 0), sum: 0, count: 0 }));
    if (!s) return;
    const i = this.bounds.findIndex((le) => value <= le);
    if (i >= 0) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  snapshot(): FamilySnapshot {
    return {
      name: this.name,
      help: this.help,
      type: "histogram",
      samples: [...this.series.values()].map(({ labels, state }) => {
        let running = 0;
        const buckets = this.bounds.map((le, i) => ({ le, count: (running += state.counts[i]!) }));
        return {
          labels,
          buckets: [...buckets, { le: Infinity, count: state.count }],
          sum: state.sum,
          count: state.count,
        };
      }),
    };
  }
}

export type AnyFamily = CounterFamily | GaugeFamily | HistogramFamily;

/** The families of one process, in the order they were made (the order of the exposition). */
export class MetricRegistry {
  private readonly families = new Map<string, AnyFamily>();

  counter(name: string, help: string, options: FamilyOptions = {}): CounterFamily {
    return this.add(new CounterFamily(name, help, options));
  }

  gauge(name: string, help: string, options: FamilyOptions = {}): GaugeFamily {
    return this.add(new GaugeFamily(name, help, options));
  }

  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    options: FamilyOptions = {},
  ): HistogramFamily {
    return this.add(new HistogramFamily(name, help, buckets, options));
  }

  /** Every family, including those without a sample yet (HELP and TYPE are still written). */
  collect(): FamilySnapshot[] {
    return [...this.families.values()].map((f) => f.snapshot());
  }

  /** Label sets refused, over all families. */
  get droppedSeries(): number {
    let n = 0;
    for (const f of this.families.values()) n += f.droppedSeries;
    return n;
  }

  private add<F extends AnyFamily>(family: F): F {
    if (this.families.has(family.name)) throw new Error(`metric ${family.name} is defined twice`);
    this.families.set(family.name, family);
    return family;
  }
}

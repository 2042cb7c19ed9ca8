import { describe, expect, it } from "vitest";
import { exposition, escapeLabelValue, EXPOSITION_CONTENT_TYPE } from "../../src/metrics/exposition.js";
import { MetricRegistry } from "../../src/metrics/registry.js";
import { parsePrometheusText, sampleValue } from "../support/prometheus-text.js";

describe("Prometheus text exposition 0.0.4", () => {
  it("writes the format's own example (prometheus.io exposition_formats) byte for byte", () => {
    const r = new MetricRegistry();
    const requests = r.counter("http_requests_total", "The total number of HTTP requests.", {
      labels: ["method", "code"],
    });
    requests.inc({ method: "post", code: "200" }, 1027);
    requests.inc({ method: "post", code: "400" }, 3);
    const latency = r.histogram(
      "http_request_duration_seconds",
      "A histogram of the request duration.",
      [0.05, 0.1, 0.2, 0.5, 1],
    );
    // 24054 + 9390 + 66948 + 28997 + 4599 + 10332 = 144320 observations, as in the example.
    const spread: [number, number][] = [
      [0.01, 24054],
      [0.07, 33444 - 24054],
      [0.15, 100392 - 33444],
      [0.3, 129389 - 100392],
      [0.7, 133988 - 129389],
      [5, 144320 - 133988],
    ];
    for (const [v, n] of spread) for (let i = 0; i < n; i++) latency.observe({}, v);
    const text = exposition(r.collect()).replace(
      /_sum (.*)/,
      (_, s: string) => `_sum ${Math.round(Number(s))}`,
    );
    expect(text).toBe(
      [
        "# HELP http_requests_total The total number of HTTP requests.",
        "# TYPE http_requests_total counter",
        'http_requests_total{method="post",code="200"} 1027',
        'http_requests_total{method="post",code="400"} 3',
        "# HELP http_request_duration_seconds A histogram of the request duration.",
        "# TYPE http_request_duration_seconds histogram",
        'http_request_duration_seconds_bucket{le="0.05"} 24054',
        'http_request_duration_seconds_bucket{le="0.1"} 33444',
        'http_request_duration_seconds_bucket{le="0.2"} 100392',
        'http_request_duration_seconds_bucket{le="0.5"} 129389',
        'http_request_duration_seconds_bucket{le="1"} 133988',
        'http_request_duration_seconds_bucket{le="+Inf"} 144320',
        `http_request_duration_seconds_sum ${Math.round(24054 * 0.01 + 9390 * 0.07 + 66948 * 0.15 + 28997 * 0.3 + 4599 * 0.7 + 10332 * 5)}`,
        "http_request_duration_seconds_count 144320",
        "",
      ].join("\n"),
    );
    const parsed = parsePrometheusText(text);
    expect(sampleValue(parsed, "http_request_duration_seconds_bucket", { le: "+Inf" })).toBe(144320);
    expect(EXPOSITION_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("escapes backslash, double quote and line feed in label values, backslash and line feed in HELP", () => {
    const r = new MetricRegistry();
    const g = r.gauge("pavise_odd", 'HELP with \\ and "quotes"\nand a second line', { labels: ["name"] });
    g.set({ name: 'C:\\DIR\\FILE.TXT "x"\nend' }, 1.5);
    const text = exposition(r.collect());
    expect(text).toBe(
      [
        '# HELP pavise_odd HELP with \\\\ and "quotes"\\nand a second line',
        "# TYPE pavise_odd gauge",
        'pavise_odd{name="C:\\\\DIR\\\\FILE.TXT \\"x\\"\\nend"} 1.5',
        "",
      ].join("\n"),
    );
    const parsed = parsePrometheusText(text);
    expect(parsed.get("pavise_odd")?.help).toBe('HELP with \\ and "quotes"\nand a second line');
    expect(parsed.get("pavise_odd")?.samples[0]?.labels.name).toBe('C:\\DIR\\FILE.TXT "x"\nend');
    expect(escapeLabelValue("plain")).toBe("plain");
  });

  it("writes labelled histogram buckets ascending, +Inf, _sum and _count, and special values", () => {
    const r = new MetricRegistry();
    const h = r.histogram(
      "pavise_x_seconds",
      "x",
      [0.5, 0.1, 2].sort((a, b) => a - b),
      { labels: ["package"] },
    );
    h.observe({ package: "web" }, 0.1);
    h.observe({ package: "web" }, 3);
    const g = r.gauge("pavise_special", "special values", { labels: ["v"] });
    g.set({ v: "inf" }, Infinity);
    g.set({ v: "ninf" }, -Infinity);
    g.set({ v: "nan" }, NaN);
    r.counter("pavise_never_total", "a family without samples");
    expect(exposition(r.collect())).toBe(
      [
        "# HELP pavise_x_seconds x",
        "# TYPE pavise_x_seconds histogram",
        'pavise_x_seconds_bucket{package="web",le="0.1"} 1',
        'pavise_x_seconds_bucket{package="web",le="0.5"} 1',
        'pavise_x_seconds_bucket{package="web",le="2"} 1',
        'pavise_x_seconds_bucket{package="web",le="+Inf"} 2',
        'pavise_x_seconds_sum{package="web"} 3.1',
        'pavise_x_seconds_count{package="web"} 2',
        "# HELP pavise_special special values",
        "# TYPE pavise_special gauge",
        'pavise_special{v="inf"} +Inf',
        'pavise_special{v="ninf"} -Inf',
        'pavise_special{v="nan"} NaN',
        "# HELP pavise_never_total a family without samples",
        "# TYPE pavise_never_total counter",
        "",
      ].join("\n"),
    );
    parsePrometheusText(exposition(r.collect()));
  });

  it("round-trips a random registry through the strict reader", () => {
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const r = new MetricRegistry();
    const c = r.counter("pavise_rt_total", "rt", { labels: ["a", "b"] });
    const h = r.histogram("pavise_rt_seconds", "rt", [0.001, 0.01, 0.1, 1], { labels: ["a"] });
    const expected = new Map<string, number>();
    for (let i = 0; i < 500; i++) {
      const a = ["x", 'q"', "b\\s", "n\nl"][Math.floor(rand() * 4)]!;
      const b = String(Math.floor(rand() * 5));
      const by = Math.floor(rand() * 1000);
      c.inc({ a, b }, by);
      expected.set(JSON.stringify([a, b]), (expected.get(JSON.stringify([a, b])) ?? 0) + by);
      h.observe({ a }, rand() * 2);
    }
    const parsed = parsePrometheusText(exposition(r.collect()));
    for (const [key, total] of expected) {
      const [a, b] = JSON.parse(key) as [string, string];
      expect(sampleValue(parsed, "pavise_rt_total", { a, b })).toBe(total);
    }
    expect(sampleValue(parsed, "pavise_rt_seconds_count", { a: "x" })).toBeGreaterThan(0);
  });

  it("the strict reader refuses what Prometheus would", () => {
    const bad = [
      "x 1", // no line feed at the end
      'x{a="\\t"} 1\n', // bad escape
      "x one\n",
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      'x 1\ny 1\nx{a="b"} 1\n', // split family
      "x 1\nx 2\n", // duplicate
      "# TYPE c counter\nc -1\n",
      "x 1\n# TYPE x gauge\n",
    ];
    for (const text of bad) expect(() => parsePrometheusText(text), text).toThrow();
  });
});

describe("metric registry", () => {
  it("bounds the label sets of a family and counts the refused ones", () => {
    const r = new MetricRegistry();
    const c = r.counter("pavise_b_total", "b", { labels: ["peer"], maxSeries: 2 });
    c.inc({ peer: "a" });
    c.inc({ peer: "b" });
    c.inc({ peer: "c" });
    c.inc({ peer: "a" });
    expect(r.droppedSeries).toBe(1);
    expect(exposition(r.collect())).toContain('pavise_b_total{peer="a"} 2\n');
    expect(exposition(r.collect())).not.toContain('peer="c"');
  });

  it("refuses bad names, missing labels, a counter that goes down, unsorted buckets", () => {
    const r = new MetricRegistry();
    expect(() => r.counter("bad-name", "x")).toThrow(/not a Prometheus name/);
    expect(() => r.gauge("g", "x", { labels: ["le"] })).toThrow(/not allowed/);
    const c = r.counter("pavise_c_total", "c", { labels: ["a"] });
    expect(() => c.inc({})).toThrow(/label a has no value/);
    expect(() => c.inc({ a: "1" }, -1)).toThrow(/cannot grow/);
    c.setTotal({ a: "1" }, 10);
    c.setTotal({ a: "1" }, 4);
    expect(exposition(r.collect())).toContain('pavise_c_total{a="1"} 10\n');
    expect(() => r.histogram("h", "h", [1, 0.5])).toThrow(/ascending/);
    expect(() => r.counter("pavise_c_total", "again")).toThrow(/twice/);
  });
});

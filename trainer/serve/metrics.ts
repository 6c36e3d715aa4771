/**
 * Prometheus text exposition (format 0.0.4) for the node: request counts and latency histograms per route,
 * plus gauges read at scrape time (queue depth, cache hits, jobs by state).
 */
const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

export type GaugeSample = { name: string; help: string; labels?: Record<string, string>; value: number };

function labelText(labels: Record<string, string> | undefined): string {
  if (!labels || Object.keys(labels).length === 0) return "";
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`,
  );
  return `{${parts.join(",")}}`;
}

export class ServeMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();

  observe(route: string, status: number, seconds: number): void {
    const key = JSON.stringify([route, String(status)]);
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.latency.get(route);
    if (!h) {
      h = { buckets: LATENCY_BUCKETS_SECONDS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(route, h);
    }
    LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
      if (seconds <= le) h.buckets[i]!++;
    });
    h.sum += seconds;
    h.count++;
  }

  render(gauges: GaugeSample[]): string {
    const lines: string[] = [];
    lines.push("# HELP yo_trainer_requests_total HTTP requests by route and status.");
    lines.push("# TYPE yo_trainer_requests_total counter");
    for (const [key, value] of this.requests) {
      const [route, status] = JSON.parse(key) as [string, string];
      lines.push(`yo_trainer_requests_total${labelText({ route, status })} ${value}`);
    }
    lines.push("# HELP yo_trainer_request_duration_seconds Request latency by route.");
    lines.push("# TYPE yo_trainer_request_duration_seconds histogram");
    for (const [route, h] of this.latency) {
      LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
        lines.push(
          `yo_trainer_request_duration_seconds_bucket${labelText({ route, le: String(le) })} ${h.buckets[i]}`,
        );
      });
      lines.push(`yo_trainer_request_duration_seconds_bucket${labelText({ route, le: "+Inf" })} ${h.count}`);
      lines.push(`yo_trainer_request_duration_seconds_sum${labelText({ route })} ${h.sum}`);
      lines.push(`yo_trainer_request_duration_seconds_count${labelText({ route })} ${h.count}`);
    }
    const seen = new Set<string>();
    for (const g of gauges) {
      if (!seen.has(g.name)) {
        seen.add(g.name);
        lines.push(`# HELP ${g.name} ${g.help}`);
        lines.push(`# TYPE ${g.name} gauge`);
      }
      lines.push(`${g.name}${labelText(g.labels)} ${g.value}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

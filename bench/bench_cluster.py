"""The cluster case of bench_ingest.py alone, for quick before/after comparisons.

    python bench/bench_cluster.py [--rounds 3] [--seconds 3] [--connections 8]

One alert per request, each a new group (so each request opens an incident with its timeline,
escalation and two outbox rows), sent to `oncall serve` as deployed and to the baseline,
slice by slice, interleaved, exactly as bench_ingest.py does (its servers, client and
payloads). Prints one line per round: new incidents/s, p50/p99, server CPU per request and
the ratio to the baseline of the same round. Then it prints `oncall_webhook_stores_total`
(deliveries stored on the event loop or in a thread). SQLite only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ingest as b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=b.INCIDENT_P99_CONCURRENCY)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oncall-bench-cluster-") as name:
        tmp = Path(name)
        work = tmp / "cwd"
        work.mkdir()
        url, base_url = f"sqlite:///{tmp / 'oncall.db'}", f"sqlite:///{tmp / 'baseline.db'}"
        env = b._child_env()
        env["ONCALL_DATABASE_URL"] = url
        env["ONCALL_WEBHOOK_TOKEN"] = b.TOKEN
        oncall_bin = str(b.oncall_command())
        b.run_cli([oncall_bin, "db", "upgrade"], env, work, tmp / "setup.log")
        b.run_cli([oncall_bin, "config", "apply", str(b.CATALOG)], env, work, tmp / "setup.log")
        b.prepare_baseline_database(base_url)
        oncall = b.Server(
            "oncall", [oncall_bin, "serve", "--host", b.HOST, "--port", "{port}"], env, tmp
        )
        baseline = b.Server(
            "baseline",
            [
                *(sys.executable, str(Path(b.__file__).resolve()), "--serve-baseline"),
                *("--database-url", base_url, "--port", "{port}"),
            ],
            b._child_env(),
            tmp,
        )
        db = None
        try:
            oncall.start(work)
            baseline.start(work)
            db = b.Database(url)
            shape = b.cluster_shape()
            warm = b.Workload("warm-up", [shape], "warm")
            for server in (oncall, baseline):
                b.send_load(server, warm.requests(200), 2, 30)
            b.wait_for_outbox(oncall, db, 0, 20)
            for round_no in range(args.rounds):
                load = b.Workload("cluster", [shape], f"r{round_no}")
                mark = db.outbox_mark()
                o = b.send_load(oncall, load.requests(30_000), args.connections, args.seconds)
                drain = b.wait_for_outbox(oncall, db, mark, 30)
                base = b.send_load(baseline, load.requests(30_000), args.connections, args.seconds)
                print(
                    f"round {round_no + 1}: oncall {o.incident_rate:,.0f} new incidents/s, "
                    f"p50 {b._ms(b.percentile(o.latencies, 50))}, "
                    f"p99 {b._ms(b.percentile(o.latencies, 99))}, "
                    f"{o.server_cpu / o.requests * 1000:.2f} ms CPU a request "
                    f"(+{drain.cpu_seconds / o.requests * 1000:.2f} draining {drain.backlog} rows)"
                    f"{b._errors(o)} | baseline {base.request_rate:,.0f} requests/s, "
                    f"p99 {b._ms(b.percentile(base.latencies, 99))}, "
                    f"{base.server_cpu / base.requests * 1000:.2f} ms CPU a request | "
                    f"{o.incident_rate / base.request_rate:.0%} of the baseline",
                    flush=True,
                )
            with urllib.request.urlopen(f"http://{b.HOST}:{oncall.port}/metrics") as answer:
                metrics = answer.read().decode()
            print(*(x for x in metrics.splitlines() if x.startswith("oncall_webhook_stores_total")))
        finally:
            oncall.stop()
            baseline.stop()
            if db is not None:
                db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

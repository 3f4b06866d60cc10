#!/usr/bin/env python3
"""The sync benchmark: anyone can rerun it and compare with the README.

Starts the release binary's simulator as its own process, then times the
release binary's `sync` (a first sync into an empty database, then an
unchanged re-sync) for each fleet size, page latency and region count, and
prints a Markdown table: jobs per second, wall time against the pure API time
(pages x latency, for one region's sequential pages), and the sync process's
peak RSS (from wait4, so the simulator's memory is not counted).

usage: scripts/bench.py [--sizes 10000,100000] [--latencies 0,20] [--regions 1,2]
       scripts/bench.py accounts [--accounts 100] [--jobs 500] [--latency 20] [--concurrency 16,1]
                                 [--baseline BIN] [--repeat 1]
The accounts case syncs an organization (--organization-role) of ACCOUNTS
accounts x 2 regions x JOBS jobs, every request (STS, Organizations, ListJobs)
answered after LATENCY ms, and compares the wall time with the bound
1.5 x (all requests x latency / concurrency) + 0.5 s; with --baseline it
alternates another binary with this release's, REPEAT rounds, each into a
fresh database, and prints the median ratios. It also says where the
machine's cores went: CPU seconds of the sync, of the PostgreSQL backends
serving it (PostgreSQL must run on this machine) and of the simulator.
       scripts/bench.py estate [--accounts 100] [--jobs 500] [--latency 20] [--concurrency 16]
                               [--clusters 2] [--terms 3] [--include clusters,long-term-pricing,usage] [--repeat 3]
The estate case runs the accounts case's organization, with CLUSTERS clusters
and TERMS terms in every account and region, twice into fresh databases: with
ListJobs only, then with `--include INCLUDE`, each a first sync and an
unchanged re-sync, REPEAT times alternating. The extra wall time (medians)
of the second over the first is compared with 1.5 x (extra requests x
latency / concurrency) + 0.3 s, and the unchanged re-sync must write no
history row of any table.
       scripts/bench.py details [--jobs 10000] [--latency 20] [--concurrency 4]
The details case times the details step of `sync --details` (a first sync,
which describes every job, then an unchanged re-sync, which describes the
active ones again and must write no detail row) against the bound
1.2 x (DescribeJob requests x latency / concurrency).
       scripts/bench.py reports [--binary PATH] [--baseline BIN] [--repeat 5]
The reports case builds two synthetic histories with scripts/bench-reports.sql
(995 500 and 104 500 rows, the same last seven days) and times `report
--since 7d`, the same `--as-of` two days ago and `history JOB_ID` on each
(the median of REPEAT runs), with the observed_at index as BRIN and as
b-tree; the bound is 1.5 x the small history's time. With --baseline, BIN
is timed alternately with PATH on the same databases, and the ratios
printed.
       scripts/bench.py chain --baseline BIN [--jobs 100000] [--latencies 0,20] [--repeat 3]
The chain case times first syncs and unchanged re-syncs of JOBS jobs (one
region) with this release and with BIN (the release before the hash chain,
e.g. built from git tag or commit 416dd5a), alternating them, each into a
fresh database migrated beforehand by that binary (untimed), and prints each
run and the median ratio; at 0 ms it also
times the unchanged re-sync's floors in the same run: listing alone (the
list-only example: the tool's ListJobs pagination, nothing written) and one
`UPDATE snowball.jobs SET last_seen_at = now()` over the same rows.
       scripts/bench.py archive [--bytes 512MiB] [--repeat 3]
The archive case times `sync --include reports` archiving one success log
of BYTES (simulate --success-log-bytes) against fetching the same file with
curl to /dev/null plus writing the same 1 MiB chunks with psql COPY, in the
same run; the bound is 1.5 x their sum.
       scripts/bench.py resync BIN [BIN ...] [--jobs 100000] [--repeat 6]
The resync case syncs JOBS jobs (one region, 0 ms pages) into one fresh
database with the first BIN, re-syncs it twice untimed, then times unchanged
re-syncs with every BIN in turn, alternating the order each round, and prints
each one's median wall time, CPU seconds (the sync, PostgreSQL's backends,
the simulator) and peak RSS: binaries compared on the steady database every
scheduled run meets.

       scripts/bench.py verify [--history interleaved|synthetic] [--jobs 100000] [--runs 50] [--per-run 20000] [--repeat 3]
The verify case builds a history (interleaved: scripts/bench-verify-history.sql,
RUNS runs each changing PER_RUN of JOBS jobs picked at random, so each job's
rows are spread over the table as a fleet's are; synthetic: the 995 500-row
history of scripts/bench-reports.sql, laid out chain by chain) and times
`snowball-sync verify` (its peak RSS too) against psql streaming the tables it
reads as they lie (`COPY table TO STDOUT > /dev/null`), medians of REPEAT
runs; the bound is 2 x COPY. It also times the state rows read chain by chain
(ORDER BY job_id, id: the previous release's order) and in id order.
Needs PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
uses and drops a database named snowball_bench.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "snowball-sync")
REGION_SETS = {1: ["us-east-1"], 2: ["us-east-1", "eu-west-1"]}


def database_urls():
    """DATABASE_URL (else the local postgres database), and the scratch
    database snowball_bench on the same server."""
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    return admin_url, admin_url.split("?")[0].rsplit("/", 1)[0] + "/snowball_bench"


def psql(admin_url, sql):
    subprocess.run(["psql", admin_url, "-qc", sql], check=True, stdout=subprocess.DEVNULL)


def start_simulator(jobs, latency_ms, regions, accounts=1, extra=()):
    proc = subprocess.Popen(
        [BINARY, "-q", "simulate", "--listen", "127.0.0.1:0", "--jobs", str(jobs), "--seed", "1",
         "--regions", ",".join(regions), "--page-latency-ms", str(latency_ms),
         "--identity-latency-ms", str(latency_ms), "--accounts", str(accounts), *extra],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[-1]


def sim_stats(endpoint):
    with urllib.request.urlopen(endpoint + "/_sim/stats") as answer:
        return json.load(answer)


def stats(endpoint):
    data = sim_stats(endpoint)
    return data["list_jobs_requests"] + data["identity_requests"] + data["describe_job_requests"]


def cpu_seconds(pid):
    """User + system CPU seconds a live process has used, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuWatch(threading.Thread):
    """Samples, every 20 ms, the CPU time of the PostgreSQL backends serving
    the bench database (their process titles name it) and of the simulator,
    so a run can say where the machine's cores went. Assumes PostgreSQL runs on
    this machine; a backend's last 20 ms may be missed."""

    def __init__(self, database, simulator_pid):
        super().__init__(daemon=True)
        self.database, self.simulator_pid = database, simulator_pid
        self.backends, self.stopping = {}, threading.Event()
        self.simulator_start = cpu_seconds(simulator_pid) or 0.0
        self.simulator = 0.0

    def run(self):
        while not self.stopping.is_set():
            self.sample()
            time.sleep(0.02)

    def sample(self):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    title = cmdline.read().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {self.database} " in title:
                used = cpu_seconds(entry)
                if used is not None:
                    self.backends[entry] = used
        used = cpu_seconds(self.simulator_pid)
        if used is not None:
            self.simulator = used - self.simulator_start

    def stop(self):
        self.stopping.set()
        self.join()
        self.sample()
        return sum(self.backends.values()), self.simulator


def timed_sync(database_url, endpoint, regions, extra=(), simulator_pid=None):
    """Runs one sync; returns its wall time, peak RSS, stdout, and, given the
    simulator's pid, the CPU seconds used by the sync, by PostgreSQL's backends
    for it and by the simulator (sampling /proc costs some CPU itself, so only
    the accounts case asks)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", RUST_LOG="warn")
    args = [BINARY, "sync", "--database-url", database_url, "--endpoint-url", endpoint]
    for region in regions:
        args += ["--region", region]
    args += list(extra)
    watch = CpuWatch(database_url.rsplit("/", 1)[-1], simulator_pid) if simulator_pid else None
    if watch:
        watch.start()
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    postgres_cpu, simulator_cpu = watch.stop() if watch else (None, None)
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"sync failed:\n{out}\n{err}")
    cpu = {"sync": usage.ru_utime + usage.ru_stime, "postgres": postgres_cpu, "simulator": simulator_cpu}
    return wall, usage.ru_maxrss / 1024.0, out.strip(), cpu


def accounts_case(argv):
    parser = argparse.ArgumentParser(prog="bench.py accounts")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--latency", type=int, default=20)
    parser.add_argument("--concurrency", default="16,1")
    parser.add_argument("--baseline", help="another binary, alternated with this release's")
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args(argv)
    global BINARY
    binaries = [("current", BINARY)] + ([("baseline", options.baseline)] if options.baseline else [])
    admin_url, database_url = database_urls()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    regions = REGION_SETS[2]
    print("| binary | accounts | regions | jobs/account/region | latency | concurrency | sync | requests | wall s | bound s "
          "| CPU s: sync | CPU s: PostgreSQL | CPU s: simulator | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    walls = {}
    for concurrency in [int(n) for n in options.concurrency.split(",")]:
        sim, endpoint = start_simulator(options.jobs, options.latency, regions, options.accounts)
        try:
            for i in range(options.repeat):
                for label, binary in (binaries if i % 2 == 0 else binaries[::-1]):
                    BINARY = binary
                    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
                    psql(admin_url, "CREATE DATABASE snowball_bench")
                    for sync in ["first", "unchanged"]:
                        before = stats(endpoint)
                        wall, rss, _, cpu = timed_sync(
                            database_url, endpoint, regions,
                            ["--organization-role", "SnowballSyncReader", "--concurrency", str(concurrency)],
                            simulator_pid=sim.pid)
                        requests = stats(endpoint) - before
                        bound = 1.5 * (requests * options.latency / 1000.0 / concurrency) + 0.5
                        walls.setdefault((concurrency, sync, label), []).append(wall)
                        print(f"| {label} | {options.accounts} | 2 | {options.jobs} | {options.latency} ms | {concurrency} "
                              f"| {sync} | {requests} | {wall:.2f} | {bound:.2f} | {cpu['sync']:.2f} "
                              f"| {cpu['postgres']:.2f} | {cpu['simulator']:.2f} | {rss:.1f} |", flush=True)
        finally:
            sim.terminate()
            sim.wait()
    BINARY = binaries[0][1]
    if options.baseline:
        for (concurrency, sync, label), runs in sorted(walls.items()):
            if label == "current":
                base = median(walls[(concurrency, sync, "baseline")])
                print(f"concurrency {concurrency}, {sync}: median {median(runs):.2f} s against {base:.2f} s "
                      f"({median(runs) / base:.3f} x)", flush=True)
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")


HISTORY_TABLES = ["job_state_history", "job_detail_history", "job_reports", "device_usage_history",
                  "cluster_state_history", "long_term_pricing_history"]


def history_rows(database_url):
    counts = " + ".join(f"(SELECT count(*) FROM snowball.{t})" for t in HISTORY_TABLES)
    out = subprocess.run(["psql", database_url, "-Atc", f"SELECT {counts}"], check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip())


def all_requests(endpoint):
    data = sim_stats(endpoint)
    return sum(data["operations"].values()) + data["identity_requests"]


def estate_case(argv):
    parser = argparse.ArgumentParser(prog="bench.py estate")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--latency", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--terms", type=int, default=3)
    parser.add_argument("--include", default="clusters,long-term-pricing,usage")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    admin_url, database_url = database_urls()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    regions = REGION_SETS[2]
    sim, endpoint = start_simulator(options.jobs, options.latency, regions, options.accounts,
                                    ["--clusters", str(options.clusters), "--terms", str(options.terms)])
    print("| repeat | sync | include | requests | wall s | history rows written |")
    print("|---|---|---|---|---|---|")
    walls, requests_of = {}, {}
    try:
        # The two configurations alternate, each into a fresh database.
        for repeat in range(1, options.repeat + 1):
            for include in ["", options.include]:
                psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
                psql(admin_url, "CREATE DATABASE snowball_bench")
                extra = ["--organization-role", "SnowballSyncReader", "--concurrency", str(options.concurrency)]
                if include:
                    extra += ["--include", include]
                for label in ["first", "unchanged"]:
                    before = all_requests(endpoint)
                    rows_before = history_rows(database_url) if label == "unchanged" else 0
                    wall, _, _, _ = timed_sync(database_url, endpoint, regions, extra)
                    requests = all_requests(endpoint) - before
                    written = history_rows(database_url) - rows_before
                    walls.setdefault((include, label), []).append(wall)
                    requests_of[(include, label)] = requests
                    print(f"| {repeat} | {label} | {include or '(ListJobs only)'} | {requests} | {wall:.2f} "
                          f"| {written} |", flush=True)
                    if label == "unchanged" and written != 0:
                        print(f"FAIL: the unchanged re-sync wrote {written} history rows")
    finally:
        sim.terminate()
        sim.wait()
    for label in ["first", "unchanged"]:
        base, wall = median(walls[("", label)]), median(walls[(options.include, label)])
        extra_requests = requests_of[(options.include, label)] - requests_of[("", label)]
        bound = 1.5 * (extra_requests * options.latency / 1000.0 / options.concurrency) + 0.3
        print(f"{label}: medians {base:.2f} s (ListJobs only) and {wall:.2f} s: extra {wall - base:.2f} s "
              f"for {extra_requests} extra requests; bound {bound:.2f} s: "
              f"{'within' if wall - base <= bound else 'OVER'}")
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")


def details_case(argv):
    parser = argparse.ArgumentParser(prog="bench.py details")
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--latency", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    options = parser.parse_args(argv)
    admin_url, database_url = database_urls()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    regions = REGION_SETS[1]
    print("| jobs | latency | details concurrency | sync | DescribeJob requests | jobs described | detail rows | details step s | bound s | wall s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
    psql(admin_url, "CREATE DATABASE snowball_bench")
    sim, endpoint = start_simulator(options.jobs, options.latency, regions)
    try:
        for label in ["first", "unchanged"]:
            before = sim_stats(endpoint)["describe_job_requests"]
            wall, rss, out, _ = timed_sync(
                database_url, endpoint, regions,
                ["--details", "--details-concurrency", str(options.concurrency), "--output", "json"])
            requests = sim_stats(endpoint)["describe_job_requests"] - before
            summary = json.loads(out)
            bound = 1.2 * requests * options.latency / 1000.0 / options.concurrency
            print(f"| {options.jobs} | {options.latency} ms | {options.concurrency} | {label} | {requests} "
                  f"| {summary['jobs_described']} | {summary['detail_changes']} | {summary['details_seconds']:.2f} "
                  f"| {bound:.2f} | {wall:.2f} | {rss:.1f} |", flush=True)
    finally:
        sim.terminate()
        sim.wait()
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")


def reports_case(argv):
    parser = argparse.ArgumentParser(prog="bench.py reports")
    parser.add_argument("--binary", default=BINARY)
    parser.add_argument("--baseline", help="another release's binary, timed alternately with this one")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args(argv)
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    base = admin_url.split("?")[0].rsplit("/", 1)[0]
    if options.binary == BINARY:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binaries = [options.binary] + ([options.baseline] if options.baseline else [])

    def medians(url, args):
        """The median of REPEAT runs of each binary, the binaries alternating."""
        times = {binary: [] for binary in binaries}
        for _ in range(options.repeat):
            for binary in binaries:
                start = time.perf_counter()
                subprocess.run([binary, "-q", *args, "--database-url", url], check=True,
                               stdout=subprocess.DEVNULL)
                times[binary].append(time.perf_counter() - start)
        return {binary: median(values) for binary, values in times.items()}

    # The moment --as-of asks for: two days ago, inside the recent jobs' week.
    as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2 * 86400))
    print("| index | history rows | report --since 7d s | report --as-of s | history JOB_ID s |"
          + (" baseline: report | as-of | history |" if options.baseline else ""))
    print("|---|---|---|---|---|" + ("---|---|---|" if options.baseline else ""))
    results = {}
    for rows in [10, 1]:
        name = f"snowball_bench_r{rows}"
        url = f"{base}/{name}"
        psql(admin_url, f"DROP DATABASE IF EXISTS {name}")
        psql(admin_url, f"CREATE DATABASE {name}")
        subprocess.run([options.binary, "-q", "migrate", "--database-url", url], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["psql", url, "-q", "-v", f"rows={rows}", "-f",
                        os.path.join(ROOT, "scripts", "bench-reports.sql")], check=True)
        count = subprocess.run(["psql", url, "-Atc", "SELECT count(*) FROM snowball.job_state_history"],
                               check=True, capture_output=True, text=True).stdout.strip()
        for index in ["brin", "btree"]:
            psql(url, "DROP INDEX snowball.job_state_history_observed_at_idx; "
                      f"CREATE INDEX job_state_history_observed_at_idx ON snowball.job_state_history USING {index} (observed_at); ANALYZE")
            report = medians(url, ["report", "--since", "7d", "--format", "json"])
            past = medians(url, ["report", "--since", "7d", "--as-of", as_of, "--format", "json"])
            history = medians(url, ["history", "JIDnew5"])
            results[(index, rows)] = (report[options.binary], history[options.binary])
            line = (f"| {index} | {int(count):,} | {report[options.binary]:.3f} | "
                    f"{past[options.binary]:.3f} | {history[options.binary]:.3f} |")
            if options.baseline:
                line += (f" {report[options.baseline]:.3f} | {past[options.baseline]:.3f} | "
                         f"{history[options.baseline]:.3f} |")
            print(line, flush=True)
            if options.baseline:
                print(f"  {index}, {int(count):,} rows: this / baseline: report "
                      f"{report[options.binary] / report[options.baseline]:.2f}, as-of "
                      f"{past[options.binary] / past[options.baseline]:.2f}, history "
                      f"{history[options.binary] / history[options.baseline]:.2f}", flush=True)
        psql(admin_url, f"DROP DATABASE {name}")
    for index in ["brin", "btree"]:
        (big_r, big_h), (small_r, small_h) = results[(index, 10)], results[(index, 1)]
        print(f"{index}: report {big_r / small_r:.2f} x, history {big_h / small_h:.2f} x the small history's time (bound 1.5 x)")


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def chain_case(argv):
    parser = argparse.ArgumentParser(prog="bench.py chain")
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--jobs", type=int, default=100000)
    parser.add_argument("--latencies", default="0,20")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    global BINARY
    current = BINARY
    admin_url, database_url = database_urls()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "list-only"], cwd=ROOT, check=True)
    list_only = os.path.join(ROOT, "target", "release", "examples", "list-only")
    regions = ["us-east-1"]
    print("| page latency | binary | first s | unchanged s | history rows |")
    print("|---|---|---|---|---|")
    for latency in [int(n) for n in options.latencies.split(",")]:
        sim, endpoint = start_simulator(options.jobs, latency, regions)
        times = {"baseline": ([], []), "current": ([], [])}
        floors = ([], [])
        try:
            for i in range(options.repeat):
                order = [("baseline", options.baseline), ("current", current)]
                for label, binary in (order if i % 2 == 0 else order[::-1]):
                    BINARY = binary
                    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
                    psql(admin_url, "CREATE DATABASE snowball_bench")
                    # Each binary's schema, untimed: the first sync times writes, not migrations.
                    subprocess.run([binary, "-q", "migrate", "--database-url", database_url], check=True,
                                   stdout=subprocess.DEVNULL)
                    first, _, _, _ = timed_sync(database_url, endpoint, regions)
                    unchanged, _, _, _ = timed_sync(database_url, endpoint, regions)
                    rows = subprocess.run(["psql", database_url, "-Atc", "SELECT count(*) FROM snowball.job_state_history"],
                                          check=True, capture_output=True, text=True).stdout.strip()
                    times[label][0].append(first)
                    times[label][1].append(unchanged)
                    print(f"| {latency} ms | {label} | {first:.2f} | {unchanged:.2f} | {rows} |", flush=True)
                    if label == "current" and latency == 0:
                        env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench",
                                   AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
                                   AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
                        started = time.monotonic()
                        subprocess.run([list_only, endpoint, regions[0]], env=env, check=True, stdout=subprocess.DEVNULL)
                        floors[0].append(time.monotonic() - started)
                        out = subprocess.run(["psql", database_url, "-c", "\\timing on", "-c",
                                              "UPDATE snowball.jobs SET last_seen_at = now()"],
                                             check=True, capture_output=True, text=True).stdout
                        floors[1].append(float(out.split("Time: ")[1].split(" ms")[0]) / 1000.0)
        finally:
            sim.terminate()
            sim.wait()
        first_ratio = median(times["current"][0]) / median(times["baseline"][0])
        print(f"\n{latency} ms: median first sync {median(times['current'][0]):.2f} s against "
              f"{median(times['baseline'][0]):.2f} s ({(first_ratio - 1) * 100:+.1f} %, bound +10 %); "
              f"unchanged {median(times['current'][1]):.2f} s against {median(times['baseline'][1]):.2f} s", flush=True)
        if floors[0]:
            floor = max(median(floors[0]), median(floors[1]))
            print(f"{latency} ms: listing alone, each run: " + ", ".join(f"{t:.2f}" for t in floors[0])
                  + "; UPDATE of every row: " + ", ".join(f"{t:.2f}" for t in floors[1]), flush=True)
            print(f"{latency} ms: listing alone {median(floors[0]):.2f} s, UPDATE of every row {median(floors[1]):.2f} s; "
                  f"unchanged re-sync {median(times['current'][1]):.2f} s = "
                  f"{median(times['current'][1]) / floor:.2f} x max(floors) (bound 1.5)\n", flush=True)
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")


def verify_case(argv):
    parser = argparse.ArgumentParser(prog="bench.py verify")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--history", choices=["interleaved", "synthetic"], default="interleaved")
    parser.add_argument("--jobs", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--per-run", type=int, default=20000)
    options = parser.parse_args(argv)
    admin_url, url = database_urls()
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
    psql(admin_url, "CREATE DATABASE snowball_bench")
    subprocess.run([BINARY, "-q", "migrate", "--database-url", url], check=True, stdout=subprocess.DEVNULL)
    started = time.monotonic()
    if options.history == "interleaved":
        # Many runs, each changing jobs picked at random: every job's rows
        # spread over the table, as a fleet's history grows.
        subprocess.run(["psql", url, "-q", "-v", f"jobs={options.jobs}", "-v", f"runs={options.runs}",
                        "-v", f"per_run={options.per_run}",
                        "-f", os.path.join(ROOT, "scripts", "bench-verify-history.sql")], check=True)
    else:
        subprocess.run(["psql", url, "-q", "-v", "rows=10", "-f", os.path.join(ROOT, "scripts", "bench-reports.sql")],
                       check=True)
    psql(url, "VACUUM ANALYZE")
    built = time.monotonic() - started
    shape = subprocess.run(["psql", url, "-Atc",
                            "SELECT (SELECT count(*) FROM snowball.job_state_history), (SELECT count(*) FROM snowball.sync_runs),"
                            " (SELECT correlation FROM pg_stats WHERE schemaname = 'snowball' AND tablename = 'job_state_history'"
                            " AND attname = 'job_id')"], check=True, capture_output=True, text=True).stdout.strip()
    print(f"history ({options.history}) built in {built:.0f} s: rows|runs|correlation of job_id with the heap = {shape}", flush=True)
    # The floor: the tables verify reads, streamed as they lie (COPY).
    floor_tables = ["snowball.job_state_history", "snowball.job_detail_history", "snowball.job_reports",
                    "snowball.sync_runs", "snowball.sync_run_listings"]
    # How the rows are read: chain by chain (the (job_id, id) index, the
    # previous release) against in id order (this one), as COPY of the query.
    orders = {"job_id, id": [], "id": []}
    copies, verifies, rss = [], [], []

    def copy(query):
        started = time.monotonic()
        with open(os.devnull, "w") as null:
            subprocess.run(["psql", url, "-qc", f"COPY {query} TO STDOUT"], check=True, stdout=null)
        return time.monotonic() - started

    for _ in range(options.repeat):
        copies.append(sum(copy(table) for table in floor_tables))
        for order, times in orders.items():
            times.append(copy(f"(SELECT id, job_id, from_state, to_state, observed_at, from_state_last_seen_at,"
                              f" sync_run_id, prev_hash, row_hash FROM snowball.job_state_history ORDER BY {order})"))
        started = time.monotonic()
        proc = subprocess.Popen([BINARY, "verify", "--database-url", url], stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        verifies.append(time.monotonic() - started)
        rss.append(usage.ru_maxrss / 1024.0)
        out = proc.stdout.read()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"verify failed:\n{out}")
        print(f"COPY of the tables {copies[-1]:.2f} s, verify {verifies[-1]:.2f} s, peak RSS {rss[-1]:.1f} MB; "
              f"rows by (job_id, id) {orders['job_id, id'][-1]:.2f} s, by id {orders['id'][-1]:.2f} s", flush=True)
    print(f"\nmedian: COPY of the tables {median(copies):.2f} s, verify {median(verifies):.2f} s = "
          f"{median(verifies) / median(copies):.2f} x COPY (bound 2), peak RSS {max(rss):.1f} MB; "
          f"the state rows read by (job_id, id) {median(orders['job_id, id']):.2f} s against by id "
          f"{median(orders['id']):.2f} s")
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")


def archive_case(argv):
    """Times `sync --include reports` archiving one 512 MiB success log (the
    simulator's --success-log-bytes) against its floor in the same run:
    fetching the same file to /dev/null with curl, plus writing the same
    1 MiB chunks into a table like job_report_chunks with psql COPY (binary,
    from a file exported beforehand, untimed). Alternating, medians."""
    parser = argparse.ArgumentParser(prog="bench.py archive")
    parser.add_argument("--bytes", default="512MiB")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    admin_url, database_url = database_urls()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    proc = subprocess.Popen(
        [BINARY, "-q", "simulate", "--listen", "127.0.0.1:0", "--jobs", "40", "--seed", "1",
         "--success-log-bytes", options.bytes], stdout=subprocess.PIPE, text=True)
    endpoint = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
    dump = "/tmp/snowball-bench-chunks.bin"
    times = {"sync": [], "curl": [], "copy": []}
    rss_seen = []
    try:
        for i in range(options.repeat):
            psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
            psql(admin_url, "CREATE DATABASE snowball_bench")
            subprocess.run([BINARY, "-q", "migrate", "--database-url", database_url], check=True,
                           stdout=subprocess.DEVNULL)
            wall, rss, out, _ = timed_sync(database_url, endpoint, ["us-east-1"],
                                           extra=["--include", "reports", "--output", "json"])
            summary = json.loads(out.splitlines()[-1])
            times["sync"].append(wall)
            rss_seen.append(rss)
            job = json.loads(urllib.request.urlopen(endpoint + "/_sim/stats").read())["long_log_job"]
            url = (f"{endpoint}/_reports/{job}/success_log?X-Amz-Date={int(time.time())}"
                   f"&X-Amz-Expires=3600&X-Amz-Signature=bench")
            started = time.monotonic()
            subprocess.run(["curl", "-sf", "-o", "/dev/null", url], check=True)
            times["curl"].append(time.monotonic() - started)
            psql(database_url, f"COPY (SELECT job_id, kind, seq, data FROM snowball.job_report_chunks "
                               f"WHERE job_id = '{job}' AND kind = 'success_log' ORDER BY seq) "
                               f"TO '{dump}' WITH (FORMAT binary)")
            psql(database_url, "CREATE TABLE bench_chunks (LIKE snowball.job_report_chunks INCLUDING ALL)")
            started = time.monotonic()
            with open(dump, "rb") as source:
                subprocess.run(["psql", database_url, "-qc", "COPY bench_chunks FROM STDIN WITH (FORMAT binary)"],
                               stdin=source, check=True, stdout=subprocess.DEVNULL)
            times["copy"].append(time.monotonic() - started)
            size = summary["report_bytes"]
            print(f"run {i + 1}: sync {wall:.2f} s ({summary['reports_archived']} reports, {size} bytes, "
                  f"details step {summary['details_seconds']:.2f} s, peak RSS {rss:.1f} MB); "
                  f"curl {times['curl'][-1]:.2f} s; psql COPY {times['copy'][-1]:.2f} s", flush=True)
    finally:
        proc.terminate()
        proc.wait()
        if os.path.exists(dump):
            os.remove(dump)
    floor = median(times["curl"]) + median(times["copy"])
    sync = median(times["sync"])
    print(f"\nmedian sync {sync:.2f} s against curl {median(times['curl']):.2f} s + psql COPY "
          f"{median(times['copy']):.2f} s = {floor:.2f} s: {sync / floor:.2f} x (bound 1.5); "
          f"{(size / 1048576) / sync:.0f} MiB/s archived; peak RSS {max(rss_seen):.1f} MB")
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")


def resync_case(argv):
    parser = argparse.ArgumentParser(prog="bench.py resync")
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--jobs", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=6)
    options = parser.parse_args(argv)
    global BINARY
    admin_url, database_url = database_urls()
    regions = ["us-east-1"]
    BINARY = options.binaries[0]
    sim, endpoint = start_simulator(options.jobs, 0, regions)
    runs = {binary: [] for binary in options.binaries}
    try:
        psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
        psql(admin_url, "CREATE DATABASE snowball_bench")
        subprocess.run([BINARY, "-q", "migrate", "--database-url", database_url], check=True,
                       stdout=subprocess.DEVNULL)
        for _ in range(3):
            timed_sync(database_url, endpoint, regions)
        for i in range(options.repeat):
            for binary in (options.binaries if i % 2 == 0 else options.binaries[::-1]):
                BINARY = binary
                wall, rss, _, cpu = timed_sync(database_url, endpoint, regions, simulator_pid=sim.pid)
                runs[binary].append((wall, cpu["sync"], cpu["postgres"], cpu["simulator"], rss))
    finally:
        sim.terminate()
        sim.wait()
        psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
    print("| binary | wall s | CPU s: sync | CPU s: PostgreSQL | CPU s: simulator | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for binary, results in runs.items():
        columns = [median([r[k] for r in results]) for k in range(5)]
        print(f"| {binary} | " + " | ".join(f"{c:.2f}" for c in columns[:4]) + f" | {columns[4]:.1f} |")


def main():
    if sys.argv[1:2] == ["resync"]:
        resync_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["archive"]:
        archive_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["chain"]:
        chain_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["verify"]:
        verify_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["reports"]:
        reports_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["accounts"]:
        accounts_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["details"]:
        details_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["estate"]:
        estate_case(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--latencies", default="0,20")
    parser.add_argument("--regions", default="1,2")
    options = parser.parse_args()
    admin_url, database_url = database_urls()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)

    print("| jobs/region | regions | page latency | sync | wall s | API s (pages x latency) | wall / API | jobs/s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for jobs in [int(n) for n in options.sizes.split(",")]:
        for latency in [int(n) for n in options.latencies.split(",")]:
            for region_count in [int(n) for n in options.regions.split(",")]:
                regions = REGION_SETS[region_count]
                psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
                psql(admin_url, "CREATE DATABASE snowball_bench")
                sim, endpoint = start_simulator(jobs, latency, regions)
                try:
                    api = math.ceil(jobs / 100) * latency / 1000.0
                    for label in ["first", "unchanged"]:
                        wall, rss, _, _ = timed_sync(database_url, endpoint, regions)
                        total = jobs * region_count
                        ratio = f"{wall / api:.3f}" if api else "-"
                        print(f"| {jobs} | {region_count} | {latency} ms | {label} | {wall:.2f} | {api:.2f} | {ratio} "
                              f"| {total / wall:,.0f} | {rss:.1f} |", flush=True)
                finally:
                    sim.terminate()
                    sim.wait()
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")


if __name__ == "__main__":
    main()

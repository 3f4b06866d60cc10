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
The accounts case syncs an organization (--organization-role) of ACCOUNTS
accounts x 2 regions x JOBS jobs, every request (STS, Organizations, ListJobs)
answered after LATENCY ms, and compares the wall time with the bound
1.5 x (all requests x latency / concurrency) + 0.5 s. It also says where the
machine's cores went: CPU seconds of the sync, of the PostgreSQL backends
serving it (PostgreSQL must run on this machine) and of the simulator.
       scripts/bench.py details [--jobs 10000] [--latency 20] [--concurrency 4]
The details case times the details step of `sync --details` (a first sync,
which describes every job, then an unchanged re-sync, which describes the
active ones again and must write no detail row) against the bound
1.2 x (DescribeJob requests x latency / concurrency).
       scripts/bench.py reports [--binary PATH] [--repeat 5]
The reports case builds two synthetic histories with scripts/bench-reports.sql
(995 500 and 104 500 rows, the same last seven days) and times `report
--since 7d` and `history JOB_ID` on each (the median of REPEAT runs), with
the observed_at index as BRIN and as b-tree; the bound is 1.5 x the small
history's time.
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


def psql(admin_url, sql):
    subprocess.run(["psql", admin_url, "-qc", sql], check=True, stdout=subprocess.DEVNULL)


def start_simulator(jobs, latency_ms, regions, accounts=1):
    proc = subprocess.Popen(
        [BINARY, "-q", "simulate", "--listen", "127.0.0.1:0", "--jobs", str(jobs), "--seed", "1",
         "--regions", ",".join(regions), "--page-latency-ms", str(latency_ms),
         "--identity-latency-ms", str(latency_ms), "--accounts", str(accounts)],
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
    options = parser.parse_args(argv)
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    database_url = admin_url.split("?")[0].rsplit("/", 1)[0] + "/snowball_bench"
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    regions = REGION_SETS[2]
    print("| accounts | regions | jobs/account/region | latency | concurrency | sync | requests | wall s | bound s "
          "| CPU s: sync | CPU s: PostgreSQL | CPU s: simulator | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for concurrency in [int(n) for n in options.concurrency.split(",")]:
        psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")
        psql(admin_url, "CREATE DATABASE snowball_bench")
        sim, endpoint = start_simulator(options.jobs, options.latency, regions, options.accounts)
        try:
            for label in ["first", "unchanged"]:
                before = stats(endpoint)
                wall, rss, _, cpu = timed_sync(
                    database_url, endpoint, regions,
                    ["--organization-role", "SnowballSyncReader", "--concurrency", str(concurrency)],
                    simulator_pid=sim.pid)
                requests = stats(endpoint) - before
                bound = 1.5 * (requests * options.latency / 1000.0 / concurrency) + 0.5
                print(f"| {options.accounts} | 2 | {options.jobs} | {options.latency} ms | {concurrency} | {label} "
                      f"| {requests} | {wall:.2f} | {bound:.2f} | {cpu['sync']:.2f} | {cpu['postgres']:.2f} "
                      f"| {cpu['simulator']:.2f} | {rss:.1f} |", flush=True)
        finally:
            sim.terminate()
            sim.wait()
    psql(admin_url, "DROP DATABASE IF EXISTS snowball_bench")


def details_case(argv):
    parser = argparse.ArgumentParser(prog="bench.py details")
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--latency", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    options = parser.parse_args(argv)
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    database_url = admin_url.split("?")[0].rsplit("/", 1)[0] + "/snowball_bench"
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
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args(argv)
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    base = admin_url.split("?")[0].rsplit("/", 1)[0]
    if options.binary == BINARY:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)

    def median(url, args):
        times = []
        for _ in range(options.repeat):
            start = time.perf_counter()
            subprocess.run([options.binary, "-q", *args, "--database-url", url], check=True,
                           stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    print("| index | history rows | report --since 7d s | history JOB_ID s |")
    print("|---|---|---|---|")
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
            report = median(url, ["report", "--since", "7d", "--format", "json"])
            history = median(url, ["history", "JIDnew5"])
            results[(index, rows)] = (report, history)
            print(f"| {index} | {int(count):,} | {report:.3f} | {history:.3f} |", flush=True)
        psql(admin_url, f"DROP DATABASE {name}")
    for index in ["brin", "btree"]:
        (big_r, big_h), (small_r, small_h) = results[(index, 10)], results[(index, 1)]
        print(f"{index}: report {big_r / small_r:.2f} x, history {big_h / small_h:.2f} x the small history's time (bound 1.5 x)")


def main():
    if sys.argv[1:2] == ["reports"]:
        reports_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["accounts"]:
        accounts_case(sys.argv[2:])
        return
    if sys.argv[1:2] == ["details"]:
        details_case(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--latencies", default="0,20")
    parser.add_argument("--regions", default="1,2")
    options = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    database_url = admin_url.split("?")[0].rsplit("/", 1)[0] + "/snowball_bench"
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

#!/usr/bin/env python3
"""The sync benchmark: anyone can rerun it and compare with the README.

Starts the release binary's simulator as its own process, then times the
release binary's `sync` (a first sync into an empty database, then an
unchanged re-sync) for each fleet size, page latency and region count, and
prints a Markdown table: jobs per second, wall time against the pure API time
(pages x latency, for one region's sequential pages), and the sync process's
peak RSS (from wait4, so the simulator's memory is not counted).

usage: scripts/bench.py [--sizes 10000,100000] [--latencies 0,20] [--regions 1,2]
Needs PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
uses and drops a database named snowball_bench.
"""

import argparse
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "snowball-sync")
REGION_SETS = {1: ["us-east-1"], 2: ["us-east-1", "eu-west-1"]}


def psql(admin_url, sql):
    subprocess.run(["psql", admin_url, "-qc", sql], check=True, stdout=subprocess.DEVNULL)


def start_simulator(jobs, latency_ms, regions):
    proc = subprocess.Popen(
        [BINARY, "-q", "simulate", "--listen", "127.0.0.1:0", "--jobs", str(jobs), "--seed", "1",
         "--regions", ",".join(regions), "--page-latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[-1]


def timed_sync(database_url, endpoint, regions):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", RUST_LOG="warn")
    args = [BINARY, "sync", "--database-url", database_url, "--endpoint-url", endpoint]
    for region in regions:
        args += ["--region", region]
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"sync failed:\n{out}\n{err}")
    return wall, usage.ru_maxrss / 1024.0, out.strip()


def main():
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
                        wall, rss, _ = timed_sync(database_url, endpoint, regions)
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

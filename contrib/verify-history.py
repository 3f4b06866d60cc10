#!/usr/bin/env python3
"""Checks snowball-sync's history without snowball-sync: recomputes every row
hash, job chain and run digest from the README's "Verifying the history".
usage: verify-history.py DATABASE_URL [RUN_ID:DIGEST ...]   (psycopg 3)
Prints one PROBLEM line per mismatch, as `snowball-sync verify` does; exits 1 if any."""
import hashlib, sys
import psycopg

def flat(v): return [x for e in v for x in flat(e)] if isinstance(v, list) else [v]

def field(v):  # NULL: 0x00; else 0x01, 4-byte big-endian length, bytes
    if v is None: return b"\x00"
    if isinstance(v, list): v = b"".join(field(e) for e in flat(v))  # a list: one field of its elements, flattened
    elif isinstance(v, int): v = str(v)
    if isinstance(v, str): v = v.encode("utf-8")
    return b"\x01" + len(v).to_bytes(4, "big") + bytes(v)

def sha(*fields): return hashlib.sha256(b"".join(field(f) for f in fields)).digest()

BOOL = "CASE {} WHEN true THEN 'true' WHEN false THEN 'false' END"  # booleans as the text true/false
# Timestamps as the encoding writes them (the year without era, ±infinity as NULL): PostgreSQL's to_char.
TIME = """to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
# Values no release writes that the encoding cannot tell from others: one problem each, after the row's hash and link.
ODD_TIME = ("CASE WHEN {0} = 'infinity' THEN '{0} is infinity, which the encoding cannot tell from NULL' "
            "WHEN {0} = '-infinity' THEN '{0} is -infinity, which the encoding cannot tell from NULL' "
            "WHEN extract(year FROM {0} AT TIME ZONE 'UTC') < 0 THEN format('{0} is in year %s BC, which the "
            "encoding cannot tell from year %s AD', -extract(year FROM {0} AT TIME ZONE 'UTC'), "
            "-extract(year FROM {0} AT TIME ZONE 'UTC')) END")
ODD_LIST = ("CASE WHEN array_ndims({0}) > 1 THEN format('{0} has %s dimensions, which the encoding flattens', "
            "array_ndims({0})) WHEN array_position({0}, NULL) IS NOT NULL THEN format('{0} has a NULL element "
            "(element %s)', array_position({0}, NULL)) END")
def T(c): return TIME.format(c)
# Each chained table: what its chains are of, and its hashed columns in encoding order (after its name).
# (table, noun, hashed columns in encoding order (after its name), odd-value checks)
TABLES = (
    ("snowball.job_state_history", "job", f"sync_run_id, {T('observed_at')}, job_id, from_state, to_state, "
     + T("from_state_last_seen_at"), ["observed_at", "from_state_last_seen_at"]),
    ("snowball.job_detail_history", "job", f"sync_run_id, {T('observed_at')}, job_id, shipping_option, "
     "outbound_status, outbound_tracking_number, inbound_status, inbound_tracking_number, bytes_transferred, "
     "objects_transferred, total_bytes, total_objects", ["observed_at"]),
    ("snowball.job_reports", "job", f"sync_run_id, {T('fetched_at')}, job_id, kind, bytes, sha256, content_type, "
     + BOOL.format("stored"), ["fetched_at"]),
    ("snowball.device_usage_history", "account and region", f"sync_run_id, {T('observed_at')}, account_id, "
     "region, snowball_limit, snowballs_in_use", ["observed_at"]),
    ("snowball.cluster_state_history", "cluster", f"sync_run_id, {T('observed_at')}, cluster_id, from_state, "
     "to_state, " + T("from_state_last_seen_at"), ["observed_at", "from_state_last_seen_at"]),
    ("snowball.long_term_pricing_history", "term", f"sync_run_id, {T('observed_at')}, long_term_pricing_id, "
     f"status, {BOOL.format('auto_renew')}, {T('end_date')}, current_active_job, replacement_job, job_ids",
     ["observed_at", "end_date", "job_ids"]),
)
problems, lines = [], []

def main(url, anchors):
    with psycopg.connect(url) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            # Each run's rows hash, fed as the tables are walked: the tables in
            # the digest's order, each in id order, as the digest takes them.
            run_rows = {}
            for table, noun, columns, odd_columns in TABLES:
                rows = 0; heads = {}  # each chain's last row_hash: rows read once, in id order
                usage = noun == "account and region"
                odd = ", ".join((ODD_LIST if c == "job_ids" else ODD_TIME).format(c) for c in odd_columns)
                cur = conn.cursor(name="rows")  # server-side: constant memory
                cur.execute(f"SELECT id, {columns}, prev_hash, row_hash, {odd} FROM {table} ORDER BY id")
                n = len(odd_columns)
                for r in cur:
                    rows += 1
                    job = f"{r[3]}/{r[4]}" if usage else r[3]
                    values, prev, row_hash, oddities = r[1:-2 - n], r[-2 - n], bytes(r[-1 - n]), r[len(r) - n:]
                    prev = None if prev is None else bytes(prev)
                    if sha(table, *values, prev) != row_hash:
                        problems.append(f"{table} row {r[0]} ({noun} {job}): row_hash does not match the row")
                    if prev != heads.get(job):
                        problems.append(f"{table} row {r[0]} ({noun} {job}): prev_hash does not link to the {noun}'s previous row")
                    problems.extend(f"{table} row {r[0]} ({noun} {job}): {o}" for o in oddities if o is not None)
                    heads[job] = row_hash
                    run_rows.setdefault(r[1], hashlib.sha256()).update(row_hash)
                cur.close()
                lines.append(f"{table}: {rows} rows in {len(heads)} chains checked")
            # Each report's kept content: chunks 0, 1, 2, ... whose bytes have the row's size and SHA-256.
            reports = chunks = 0; cur = conn.cursor(name="chunks")
            cur.execute("SELECT r.id, r.job_id, r.bytes, r.sha256, r.stored, c.seq, c.data FROM snowball.job_reports r"
                        " LEFT JOIN snowball.job_report_chunks c ON c.job_id = r.job_id AND c.kind = r.kind AND c.stored = r.stored"
                        " ORDER BY r.job_id, r.kind, c.seq")
            def close(report):
                if report is None: return
                (rid, job, size, digest, stored), n, total, h, misplaced = report
                say = lambda what: problems.append(f"snowball.job_reports row {rid} (job {job}): {what}")
                if not stored:
                    if n: say("content is kept in snowball.job_report_chunks although the row says it is only hashed")
                elif misplaced: say("its content in snowball.job_report_chunks has a missing or misplaced chunk")
                elif total != size or h.digest() != bytes(digest):
                    say("its content in snowball.job_report_chunks does not match its bytes and sha256")
            report = None
            for rid, job, size, digest, stored, seq, data in cur:
                if report is None or report[0][0] != rid:
                    close(report); reports += 1; report = [(rid, job, size, digest, stored), 0, 0, hashlib.sha256(), False]
                if data is not None:
                    chunks += 1; report[4] |= seq != report[1]; report[1] += 1; report[2] += len(data); report[3].update(bytes(data))
            close(report); cur.close()
            lines.append(f"snowball.job_report_chunks: the content of {reports} reports in {chunks} chunks checked")
            runs = {}  # run id -> [status, digest, seq, previous digest, previous exists, sha256 of rows, version]
            for r in conn.execute("SELECT r.id, r.status, r.digest, r.digest_seq, p.digest, p.id IS NOT NULL,"
                                  " r.digest_version FROM snowball.sync_runs r LEFT JOIN snowball.sync_runs p"
                                  " ON p.digest_seq = r.digest_seq - 1"):
                runs[r[0]] = list(r[1:6]) + [hashlib.sha256(), r[6]]
            # Digest version 2 also covers the run's record and its listings.
            records = {r[0]: r[1:] for r in conn.execute(
                f"SELECT id, {T('started_at')}, {T('finished_at')}, regions, accounts, pages, jobs_seen, jobs_new,"
                " jobs_changed, transitions, jobs_missing, jobs_described, detail_changes, reports_archived,"
                " report_bytes, reports_hashed_only, cluster_transitions, pricing_changes, error, tool_version, host,"
                " made_by FROM snowball.sync_runs WHERE digest_version = 2")}
            listings = {}
            for l in conn.execute(f"SELECT run_id, kind, account_id, region, status, pages, jobs_seen, error,"
                                  f" {T('started_at')}, {T('finished_at')} FROM snowball.sync_run_listings"
                                  " ORDER BY run_id, kind COLLATE \"C\", account_id COLLATE \"C\", region COLLATE \"C\""):
                listings.setdefault(l[0], hashlib.sha256()).update(b"".join(field(v) for v in l[1:]))
            sealed = running = 0
            for run_id in sorted(runs):
                say = lambda what: problems.append(f"snowball.sync_runs run {run_id}: {what}")
                status, digest, seq, previous, previous_exists, _, version = runs[run_id]
                rows = run_rows.get(run_id, hashlib.sha256())
                digest = None if digest is None else bytes(digest)
                if digest is None:
                    if status == "running": running += 1
                    else: say("ended but not sealed")
                else:
                    sealed += 1
                    previous = None if previous is None else bytes(previous)
                    if seq > 1 and not previous_exists: say("the run sealed before it is missing")
                    elif version is None and sha("snowball.sync_runs", previous, run_id, status, rows.digest()) != digest:
                        say("digest does not match")
                    elif version is not None and (version != 2 or run_id not in records or sha(
                            "snowball.sync_runs", previous, run_id, status, rows.digest(), 2, *records[run_id],
                            listings.get(run_id, hashlib.sha256()).digest()) != digest):
                        say("digest does not match")
                if run_id in anchors and (digest is None or digest.hex() != anchors[run_id]):
                    problems.append(f"anchor run {run_id}: digest differs from the anchor")
            problems.extend(f"snowball.sync_runs run {r}: rows of this run but no sync_runs row"
                            for r in sorted(set(run_rows) - set(runs)))
            problems.extend(f"anchor run {a}: no such run" for a in sorted(anchors) if a not in runs)
    for p in problems: print("PROBLEM " + p)
    for line in lines: print(line)
    print(f"snowball.sync_runs: {sealed} run digests checked, {running} runs still running, {len(anchors)} anchors checked")
    print("the history verifies" if not problems else "the history does NOT verify")
    return 1 if problems else 0

if __name__ == "__main__":
    if len(sys.argv) < 2: sys.exit(__doc__)
    anchors = {int(a.split(":")[0]): a.split(":")[1].strip().lower() for a in sys.argv[2:]}
    sys.exit(main(sys.argv[1], anchors))

#!/usr/bin/env python3
"""Checks snowball-sync's history without snowball-sync: recomputes every row
hash, job chain and run digest from the README's "Verifying the history".
usage: verify-history.py DATABASE_URL [RUN_ID:DIGEST ...]   (psycopg 3)
Prints one PROBLEM line per mismatch, as `snowball-sync verify` does; exits 1 if any."""
import hashlib, sys
from datetime import timezone
import psycopg

def field(v):  # NULL: 0x00; else 0x01, 4-byte big-endian length, bytes
    if v is None: return b"\x00"
    if isinstance(v, list): v = b"".join(field(e) for e in v)  # a list: one field of fields
    elif isinstance(v, int): v = str(v)
    elif hasattr(v, "astimezone"): v = v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, str): v = v.encode("utf-8")
    return b"\x01" + len(v).to_bytes(4, "big") + bytes(v)

def sha(*fields): return hashlib.sha256(b"".join(field(f) for f in fields)).digest()

BOOL = "CASE {} WHEN true THEN 'true' WHEN false THEN 'false' END"  # booleans as the text true/false
# Each chained table: what its chains are of, and its hashed columns in encoding order (after its name).
TABLES = (
    ("snowball.job_state_history", "job", "sync_run_id, observed_at, job_id, from_state, to_state, "
     "from_state_last_seen_at"),
    ("snowball.job_detail_history", "job", "sync_run_id, observed_at, job_id, shipping_option, outbound_status, "
     "outbound_tracking_number, inbound_status, inbound_tracking_number, bytes_transferred, objects_transferred, "
     "total_bytes, total_objects"),
    ("snowball.job_reports", "job", "sync_run_id, fetched_at, job_id, kind, bytes, sha256, content_type, "
     + BOOL.format("stored")),
    ("snowball.device_usage_history", "account and region", "sync_run_id, observed_at, account_id, region, "
     "snowball_limit, snowballs_in_use"),  # one chain per ACCOUNT/REGION
    ("snowball.cluster_state_history", "cluster", "sync_run_id, observed_at, cluster_id, from_state, to_state, "
     "from_state_last_seen_at"),
    ("snowball.long_term_pricing_history", "term", "sync_run_id, observed_at, long_term_pricing_id, status, "
     + BOOL.format("auto_renew") + ", end_date, current_active_job, replacement_job, job_ids"),
)
problems, lines = [], []

def main(url, anchors):
    with psycopg.connect(url) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            for table, noun, columns in TABLES:
                rows = chains = 0; job = head = None
                usage = noun == "account and region"
                cur = conn.cursor(name="rows")  # server-side: constant memory
                order = "account_id, region, id" if usage else columns.split(", ")[2] + ", id"
                cur.execute(f"SELECT id, {columns}, prev_hash, row_hash FROM {table} ORDER BY {order}")
                for r in cur:
                    rows += 1
                    subject = f"{r[3]}/{r[4]}" if usage else r[3]
                    if subject != job: chains += 1; job = subject; head = None
                    values, prev, row_hash = r[1:-2], r[-2], bytes(r[-1])
                    prev = None if prev is None else bytes(prev)
                    if sha(table, *values, prev) != row_hash:
                        problems.append(f"{table} row {r[0]} ({noun} {job}): row_hash does not match the row")
                    if prev != head:
                        problems.append(f"{table} row {r[0]} ({noun} {job}): prev_hash does not link to the {noun}'s previous row")
                    head = row_hash
                cur.close()
                lines.append(f"{table}: {rows} rows in {chains} chains checked")
            runs = {}  # run id -> [status, digest, seq, previous digest, previous exists, sha256 of rows]
            for r in conn.execute("SELECT r.id, r.status, r.digest, r.digest_seq, p.digest, p.id IS NOT NULL"
                                  " FROM snowball.sync_runs r LEFT JOIN snowball.sync_runs p"
                                  " ON p.digest_seq = r.digest_seq - 1"):
                runs[r[0]] = list(r[1:]) + [hashlib.sha256()]
            orphans = set()
            for table, _, _ in TABLES:
                for run_id, row_hash in conn.execute(f"SELECT sync_run_id, row_hash FROM {table} ORDER BY sync_run_id, id"):
                    if run_id in runs: runs[run_id][5].update(bytes(row_hash))
                    else: orphans.add(run_id)
            sealed = running = 0
            for run_id in sorted(set(runs) | orphans):
                say = lambda what: problems.append(f"snowball.sync_runs run {run_id}: {what}")
                if run_id not in runs: say("rows of this run but no sync_runs row"); continue
                status, digest, seq, previous, previous_exists, rows = runs[run_id]
                digest = None if digest is None else bytes(digest)
                if digest is None:
                    if status == "running": running += 1
                    else: say("ended but not sealed")
                else:
                    sealed += 1
                    previous = None if previous is None else bytes(previous)
                    if seq > 1 and not previous_exists: say("the run sealed before it is missing")
                    elif sha("snowball.sync_runs", previous, run_id, status, rows.digest()) != digest:
                        say("digest does not match")
                if run_id in anchors and (digest is None or digest.hex() != anchors[run_id]):
                    problems.append(f"anchor run {run_id}: digest differs from the anchor")
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

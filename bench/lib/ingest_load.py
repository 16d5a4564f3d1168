"""Load for bench/ingest: the same rows sent by CLIENTS concurrent clients as HTTP JSON batches, as
raw binary COPY (psql), as InfluxDB line protocol, and ECG in the binary waveform format. Fixed work
per client (BATCHES batches of 1 000 rows), timed from the first request to the last answer; prints
one JSON object of results. Only the standard library: nothing to install."""

import http.client
import json
import os
import struct
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def ecg_second(rate=250, hr=72.0):
    """One second of a plausible single-lead ECG in microvolts: Gaussian P, Q, R, S and T waves at
    `hr` plus ±20 µV of noise (what a wearable's front end sends, roughly)."""
    import math
    import random
    rng = random.Random(7)
    rr = 60.0 / hr
    waves = [(0.16, 120, 0.025), (0.27, -100, 0.010), (0.30, 1100, 0.012), (0.33, -220, 0.012), (0.58, 300, 0.045)]
    out = []
    for i in range(rate):
        t = (i / rate) % rr
        v = sum(a * math.exp(-((t - f * rr) ** 2) / (2 * w * w)) for f, a, w in waves)
        out.append(int(round(v + rng.uniform(-20, 20))))
    return out


ECG_SECOND = ecg_second()


BATCHES = 0


def rows(client, batch, base, per_batch):
    """The (ts, value) rows of one batch, a millisecond apart: distinct across clients and batches."""
    start = base + timedelta(milliseconds=(client * BATCHES + batch) * per_batch)
    return [(start + timedelta(milliseconds=i), 60.0 + (i * 7) % 61) for i in range(per_batch)]


def iso(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_clients(clients, work):
    """Runs work(client) on `clients` threads; returns the elapsed seconds. A failing client fails
    the run (a thread's exception would otherwise vanish and leave an impossible rate)."""
    errors = []

    def guarded(c):
        try:
            work(c)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"a client failed: {errors[0]}")
    return elapsed


def http_post_all(host, port, path, headers, bodies):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    for body in bodies:
        while True:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status == 503:
                time.sleep(0.05)
                continue
            if resp.status >= 300:
                raise SystemExit(f"{path}: {resp.status} {data[:300]!r}")
            break
    conn.close()


def json_bodies(stream, client, batches, per_batch, base):
    out = []
    for b in range(batches):
        samples = [{"ts": iso(ts), "value": v} for ts, v in rows(client, b, base, per_batch)]
        out.append(json.dumps({"streams": [{"stream_id": stream, "samples": samples}]}).encode())
    return out


def copy_file(path, stream, client, batch, base, per_batch):
    sid = uuid.UUID(stream).bytes
    with open(path, "wb") as f:
        f.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
        for ts, v in rows(client, batch, base, per_batch):
            micros = int((ts - PG_EPOCH).total_seconds() * 1_000_000)
            f.write(struct.pack(">hi16siqif", 4, 16, sid, 8, micros, 4, v))
            f.write(struct.pack(">i", -1))
        f.write(struct.pack(">h", -1))


def main():
    mode = sys.argv[1]
    cfg = json.loads(sys.argv[2])
    global BATCHES
    clients, batches, per_batch = cfg["clients"], cfg["batches"], cfg.get("per_batch", 1000)
    BATCHES = batches
    base = datetime.now(timezone.utc) - timedelta(hours=cfg.get("hours_back", 20))
    total = clients * batches * per_batch
    if mode == "json":
        bodies = [json_bodies(cfg["stream"], c, batches, per_batch, base) for c in range(clients)]
        headers = {"Content-Type": "application/json", "Authorization": f"Device {cfg['credential']}"}
        elapsed = run_clients(clients, lambda c: http_post_all(
            "127.0.0.1", cfg["port"], "/timeseries/ingest", headers, bodies[c]))
    elif mode == "copy":
        work = cfg["work"]
        scripts = []
        for c in range(clients):
            lines = []
            for b in range(batches):
                path = os.path.join(work, f"copy-{c}-{b}.bin")
                copy_file(path, cfg["stream"], c, b, base, per_batch)
                lines.append(f"\\copy heartguard.vital_samples (stream_id, ts, value, value2) from '{path}' (format binary)")
            script = os.path.join(work, f"copy-{c}.sql")
            open(script, "w").write("\n".join(lines) + "\n")
            scripts.append(script)

        def copy(c):
            subprocess.run(["psql", cfg["db_url"], "-q", "-v", "ON_ERROR_STOP=1", "-f", scripts[c]],
                           check=True, stdout=subprocess.DEVNULL)
        elapsed = run_clients(clients, copy)
    elif mode == "influx":
        bodies = []
        for c in range(clients):
            mine = []
            for b in range(batches):
                lines = [f"hr,stream={cfg['stream']} value={v} {int(ts.timestamp() * 1e9)}"
                         for ts, v in rows(c, b, base, per_batch)]
                mine.append("\n".join(lines).encode())
            bodies.append(mine)
        headers = {"Content-Type": "text/plain"}
        elapsed = run_clients(clients, lambda c: http_post_all(
            "127.0.0.1", cfg["port"], "/write?db=bench&precision=ns", headers, bodies[c]))
    elif mode == "ecg":
        # Blocks of 250 samples (one second at 250 Hz), `per_batch` blocks a request.
        sid = uuid.UUID(cfg["stream"]).bytes
        bodies = []
        for c in range(clients):
            mine = []
            for b in range(batches):
                parts = [b"HGWB" + struct.pack("<BBH", 1, 0, per_batch)]
                for k in range(per_batch):
                    start = base + timedelta(seconds=(c * batches + b) * per_batch + k)
                    micros = int(start.timestamp() * 1_000_000)
                    samples = ECG_SECOND
                    parts.append(sid + struct.pack("<qfIB3x", micros, 250.0, 250, 1))
                    parts.append(struct.pack("<250h", *samples))
                mine.append(b"".join(parts))
            bodies.append(mine)
        headers = {"Content-Type": "application/vnd.heartguard.waveform",
                   "Authorization": f"Device {cfg['credential']}"}
        elapsed = run_clients(clients, lambda c: http_post_all(
            "127.0.0.1", cfg["port"], "/timeseries/ingest", headers, bodies[c]))
        total = clients * batches * per_batch * 250
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps({"mode": mode, "rows": total, "seconds": elapsed, "rows_per_s": total / elapsed}))


if __name__ == "__main__":
    main()

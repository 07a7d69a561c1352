#!/usr/bin/env python3
"""boto3 peer of the heimdall-storage benchmark: the way the Python service Heimdall replaces (FastAPI + Celery, boto3, SQLAlchemy)
archived captures.

The old service stored each capture with one blocking boto3 ``put_object`` of the .npy bytes
(plus a small metadata JSON). Here the 7 puts of a session run concurrently in threads, which is
the best case for boto3; the metadata JSON is put too, like the Rust sink does.

    eval "$(scripts/s3.sh env)"
    .venv/bin/python benches/storage_peer/boto3_peer.py small 20
    .venv/bin/python benches/storage_peer/boto3_peer.py large 5

Reads AWS_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket from
HEIMDALL_BENCH_URL or HEIMDALL_TEST_S3_URL (s3://bucket[/prefix]).
"""
import concurrent.futures as cf
import io
import json
import os
import statistics
import sys
import time
import uuid

import boto3
import botocore.config
import numpy as np


def proc_status(field):
    """A /proc/self/status field in KiB (VmRSS: resident now, VmHWM: peak resident)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "small"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else (20 if mode == "small" else 5)
    size = 512 * 1024 if mode == "small" else 32 * 1024 * 1024
    url = os.environ.get("HEIMDALL_BENCH_URL") or os.environ["HEIMDALL_TEST_S3_URL"]
    bucket, _, prefix = url[len("s3://"):].partition("/")
    prefix = (prefix.strip("/") + "/" if prefix else "") + f"boto3-bench-{uuid.uuid4().hex}"
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ.get("AWS_ENDPOINT"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=botocore.config.Config(max_pool_connections=16),
    )
    # One .npy of `size` bytes of complex64 (header included, like np.save).
    n = (size - 128) // 8
    k = np.arange(n, dtype=np.float32)
    buf = io.BytesIO()
    np.save(buf, (k - 1j * k).astype(np.complex64))
    npy = buf.getvalue()
    keys = []

    def put(task, i):
        key = f"{prefix}/sessions/{task}/websdr_{i}.npy"
        s3.put_object(Bucket=bucket, Key=key, Body=npy)
        meta = {"websdr_id": i, "frequency_mhz": 145.5, "sample_rate_khz": 12.0, "samples_count": n}
        mkey = f"{prefix}/sessions/{task}/websdr_{i}_metadata.json"
        s3.put_object(Bucket=bucket, Key=mkey, Body=json.dumps(meta).encode())
        return [key, mkey]

    def one_round(pool):
        task = uuid.uuid4().hex
        t = time.perf_counter()
        for ks in pool.map(lambda i: put(task, i), range(7)):
            keys.extend(ks)
        return (time.perf_counter() - t) * 1e3

    base_kib = proc_status("VmRSS:")  # the baseline of "memory above baseline": data made, nothing stored
    with cf.ThreadPoolExecutor(max_workers=7) as pool:
        one_round(pool)  # warm-up
        ms = [one_round(pool) for _ in range(rounds)]
    med = statistics.median(ms)
    print(
        f"boto3    {mode}: 7 x {size // 1024} KiB (npy): median {med:.1f} ms, best {min(ms):.1f} ms, "
        f"aggregate {7 * len(npy) / 1e6 / (med / 1e3):.0f} MB/s (median), {rounds} rounds"
    )
    # One machine-readable line for benches/storage_peer/run.sh.
    print(
        f"RESULT peer=boto3 mode={mode} median_ms={med:.3f} mb_s={7 * len(npy) / 1e6 / (med / 1e3):.3f} "
        f"baseline_kib={base_kib} peak_kib={proc_status('VmHWM:')}"
    )
    for i in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": x} for x in keys[i:i + 1000]]})


if __name__ == "__main__":
    main()

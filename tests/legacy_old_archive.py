#!/usr/bin/env python3
"""Writes an archive exactly as the Python service Heimdall replaces (FastAPI + Celery, boto3, SQLAlchemy)
stored it ("the old service" below), for tests/legacy.rs.

usage: legacy_old_archive.py dir PATH          (local disk: PATH/sessions/...)
       legacy_old_archive.py s3 BUCKET PREFIX  (S3: AWS_ENDPOINT, AWS_ACCESS_KEY_ID, ... from the environment)

Per capture the old service did: np.save(BytesIO, np.array(iq, dtype=np.complex64)) into
sessions/{task_id}/websdr_{n}.npy with S3 user metadata websdr_id, task_id,
data_type=iq_complex64, samples_count, then json.dumps(metadata, indent=2) into
websdr_{n}_metadata.json with user metadata websdr_id, task_id, data_type=metadata; the metadata
is the measurement dict without iq data: websdr_id, frequency_mhz, sample_rate_khz,
samples_count, timestamp_utc (datetime.utcnow().isoformat()), metrics.

Prints one JSON object on stdout: the tasks written and the truth of every good capture.
"""
import io
import json
import os
import sys
import uuid

import numpy as np

FS = 12500.0  # the old service's fixed 12.5 kHz
FREQ_MHZ = 145.5
N = 25000  # 2 s


def tone(n, fs, f0, snr_db, seed):
    """Unit-amplitude complex tone at f0 + complex AWGN; SNR = tone power / noise power over fs."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64) / fs
    noise_var = 10.0 ** (-snr_db / 10.0)
    noise = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.sqrt(noise_var / 2)
    return (np.exp(2j * np.pi * f0 * t) + noise).astype(np.complex64)


def old_metrics(k):
    # What the old pipeline reported: the wrong values the import must keep verbatim
    # (Python's json writes -inf as -Infinity, which strict JSON parsers refuse).
    return {
        "snr_db": 0.2 + 0.01 * k,
        "psd_dbm": float("-inf") if k == 2 else -80.5 - k,
        "frequency_offset_hz": 50.0 + k,
        "signal_power_dbm": -50.0 - k,
        "noise_power_dbm": -50.2 - k,
    }


class Target:
    def __init__(self, argv):
        self.mode = argv[1]
        if self.mode == "dir":
            self.root = argv[2]
        elif self.mode == "s3":
            import boto3

            self.bucket, self.prefix = argv[2], argv[3].strip("/")
            self.s3 = boto3.client(
                "s3",
                endpoint_url=os.environ["AWS_ENDPOINT"],
                aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
            )
        else:
            raise SystemExit(__doc__)

    def put(self, key, body, content_type, metadata):
        if self.mode == "dir":
            path = os.path.join(self.root, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
        else:
            full = f"{self.prefix}/{key}" if self.prefix else key
            self.s3.put_object(Bucket=self.bucket, Key=full, Body=body, ContentType=content_type, Metadata=metadata)


def npy_bytes(x):
    buf = io.BytesIO()
    np.save(buf, np.array(x, dtype=np.complex64))
    buf.seek(0)
    return buf.getvalue()


def write_capture(t, task, n, x, timestamp, metrics, npy=True, meta=True, cut=None, bad_json=False):
    body = npy_bytes(x)
    if cut:
        body = body[:-cut]
    if npy:
        t.put(
            f"sessions/{task}/websdr_{n}.npy",
            body,
            "application/octet-stream",
            {"websdr_id": str(n), "task_id": task, "data_type": "iq_complex64", "samples_count": str(len(x))},
        )
    if meta:
        metadata = {
            "websdr_id": n,
            "frequency_mhz": FREQ_MHZ,
            "sample_rate_khz": FS / 1e3,
            "samples_count": len(x),
            "timestamp_utc": timestamp,
            "metrics": metrics,
        }
        text = json.dumps(metadata, indent=2)
        if bad_json:
            text = text[: len(text) // 2]
        t.put(
            f"sessions/{task}/websdr_{n}_metadata.json",
            text.encode("utf-8"),
            "application/json",
            {"websdr_id": str(n), "task_id": task, "data_type": "metadata"},
        )


def main():
    t = Target(sys.argv)
    good_task, mixed_task, dead_task = (str(uuid.uuid4()) for _ in range(3))
    truth = []
    # A complete session: four receivers, known SNRs and tone offsets.
    for k, (n, snr, f0) in enumerate([(1, 10.0, 1000.0), (2, 20.0, -2500.0), (3, 5.0, 300.0), (4, 15.0, 4000.0)]):
        ts = f"2025-10-22T10:00:0{k}.{k * 125000:06d}"
        write_capture(t, good_task, n, tone(N, FS, f0, snr, seed=k), ts, old_metrics(k))
        truth.append({"task_id": good_task, "websdr_id": n, "snr_db": snr, "tone_hz": f0,
                      "timestamp_utc": ts, "old": old_metrics(k)})
    # A session with one good capture and four broken ones.
    ts = "2025-10-23T08:30:00.500000"
    write_capture(t, mixed_task, 1, tone(N, FS, -700.0, 12.0, seed=10), ts, old_metrics(5))
    truth.append({"task_id": mixed_task, "websdr_id": 1, "snr_db": 12.0, "tone_hz": -700.0,
                  "timestamp_utc": ts, "old": old_metrics(5)})
    write_capture(t, mixed_task, 2, tone(N, FS, 0.0, 10.0, 11), ts, old_metrics(6), meta=False)  # no metadata
    write_capture(t, mixed_task, 3, tone(N, FS, 0.0, 10.0, 12), ts, old_metrics(7), npy=False)  # no samples
    write_capture(t, mixed_task, 4, tone(N, FS, 0.0, 10.0, 13), ts, old_metrics(8), cut=1000)  # truncated
    write_capture(t, mixed_task, 5, tone(N, FS, 0.0, 10.0, 14), ts, old_metrics(9), bad_json=True)  # cut JSON
    # A session with nothing readable, and a folder whose name is not a task id.
    write_capture(t, dead_task, 1, tone(N, FS, 0.0, 10.0, 15), ts, old_metrics(10), npy=False)
    write_capture(t, "not-a-task", 1, tone(N, FS, 0.0, 10.0, 16), ts, old_metrics(11))
    # The truth in strict JSON: the non-finite old values become null, as the import reads them.
    for t in truth:
        t["old"] = {k: (v if np.isfinite(v) else None) for k, v in t["old"].items()}
    print(json.dumps({"good": good_task, "mixed": mixed_task, "dead": dead_task, "truth": truth}, allow_nan=False))


main()

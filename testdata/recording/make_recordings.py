#!/usr/bin/env python3
"""Writes the recording fixtures from the format descriptions alone (no Heimdall code):

- 20261130T120000Z_7000000_synth_iq.wav: a kiwirecorder IQ WAV as kiwiclient writes it (RIFF/WAVE,
  `fmt ` PCM 2 x int16 at the rounded rate 12001, then `kiwi` (10 bytes: u8 last_gps_solution,
  u8 unused, u32 GPS second of the week, u32 ns) + `data` (512 IQ int16 pairs) chunk pairs).
  True rate 12001.25 Hz; a tone at +1 kHz. Block 0 has no time (gpssec 0), block 1 a stale
  solution (fix age 200 s) hours off, block 9 a fresh stamp 5 samples off; the rest agree.
- synth.sigmf-meta / synth.sigmf-data: a SigMF recording written with sigmf-python (ci16_le,
  48 kHz, 145.5 MHz, a tone at -3 kHz, core:datetime and core:geolocation).
- expected.json: the truth of both.

Run with the project's venv: .venv/bin/python testdata/recording/make_recordings.py
"""
import datetime as dt
import json
import math
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GPS_EPOCH = dt.datetime(1980, 1, 6, tzinfo=dt.timezone.utc)
LEAP = 18


def kiwi_wav():
    rate, nblocks, blk = 12001.25, 40, 512
    start_utc = dt.datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt.timezone.utc)
    t0_ns = 250_000_000  # sample 0 is 0.25 s after the name's time
    gps0 = (start_utc - GPS_EPOCH).total_seconds() + LEAP
    week_s = 604800
    n = np.arange(nblocks * blk)
    iq = 0.5 * np.exp(2j * np.pi * 1000.0 * n / rate)
    i16 = np.empty(2 * len(iq), dtype="<i2")
    i16[0::2] = np.round(iq.real * 32767)
    i16[1::2] = np.round(iq.imag * 32767)
    chunks = b""
    agreeing = 0
    for b in range(nblocks):
        first = b * blk
        t = gps0 + t0_ns * 1e-9 + first / rate
        fix = b % 4
        if b == 9:
            t += 5 / rate
        if b == 1:
            fix, t = 200, t - 11616.0
        sec_of_week = int(math.floor(t)) % week_s
        nsec = int(round((t - math.floor(t)) * 1e9))
        if nsec == 1_000_000_000:
            sec_of_week, nsec = sec_of_week + 1, 0
        if b == 0:
            fix, sec_of_week, nsec = 0, 0, 0
        elif b not in (1, 9):
            agreeing += 1
        chunks += b"kiwi" + struct.pack("<I", 10) + struct.pack("<BBII", fix, 0, sec_of_week, nsec)
        data = i16[2 * first : 2 * (first + blk)].tobytes()
        chunks += b"data" + struct.pack("<I", len(data)) + data
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 12001, 48004, 4, 16)
    body = b"WAVE" + fmt + chunks
    name = "20261130T120000Z_7000000_synth_iq.wav"
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)
    return {
        "file": name,
        "sample_rate_hz": rate,
        "samples": nblocks * blk,
        "center_frequency_hz": 7_000_000,
        "tone_offset_hz": 1000.0,
        "start_utc": "2026-11-30T12:00:00.250000000Z",
        "agreeing_gps_stamps": agreeing,
        "first_sample_i_q": [int(i16[0]), int(i16[1])],
    }


def sigmf():
    from sigmf import SigMFFile

    rate, n = 48000.0, 4800
    k = np.arange(n)
    iq = 0.25 * np.exp(-2j * np.pi * 3000.0 * k / rate)
    i16 = np.empty(2 * n, dtype="<i2")
    i16[0::2] = np.round(iq.real * 32767)
    i16[1::2] = np.round(iq.imag * 32767)
    data = os.path.join(HERE, "synth.sigmf-data")
    i16.tofile(data)
    meta = SigMFFile(
        data_file=data,
        global_info={
            SigMFFile.DATATYPE_KEY: "ci16_le",
            SigMFFile.SAMPLE_RATE_KEY: rate,
            SigMFFile.DESCRIPTION_KEY: "Heimdall test fixture: a tone at -3 kHz",
            SigMFFile.GEOLOCATION_KEY: {"type": "Point", "coordinates": [7.6869, 45.0703, 240.0]},
        },
    )
    meta.add_capture(0, metadata={
        SigMFFile.FREQUENCY_KEY: 145.5e6,
        SigMFFile.DATETIME_KEY: "2026-11-30T12:00:00.000000Z",
    })
    meta.tofile(os.path.join(HERE, "synth.sigmf-meta"))
    return {
        "file": "synth.sigmf-meta",
        "sample_rate_hz": rate,
        "samples": n,
        "center_frequency_hz": 145.5e6,
        "tone_offset_hz": -3000.0,
        "start_utc": "2026-11-30T12:00:00Z",
        "position": [45.0703, 7.6869, 240.0],
        "first_sample_i_q": [int(i16[0]), int(i16[1])],
    }


if __name__ == "__main__":
    truth = {"kiwi_wav": kiwi_wav(), "sigmf": sigmf()}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")

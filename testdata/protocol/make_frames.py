#!/usr/bin/env python3
"""Golden protocol frames for the KiwiSDR, OpenWebRX and rtl_tcp decoders, written byte by byte
from the protocols' published layouts with Python's `struct`, never with Heimdall's encoders.

Each frame is `NAME.bin`; `expected.json` holds what a correct decoder reads from it, computed
here from the same layouts (the S-meter formula, the GPS epoch and leap seconds, the IMA ADPCM
step tables). Where each byte comes from is in README.md beside this file. Run it again to
regenerate (the output is deterministic):  python3 testdata/protocol/make_frames.py
"""
import datetime as dt
import json
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
frames = {}
expected = {}


def put(name, data, **truth):
    frames[name] = bytes(data)
    expected[name] = truth


# ---------------------------------------------------------------- KiwiSDR (WebSocket payloads)
# SND header: "SND", flags u8, seq u32 LE, smeter u16 BE; with flag 0x08 (IQ) also
# last_gps_solution u8, a zero byte, gpssec u32 LE (seconds of the GPS week), gpsnsec u32 LE;
# then int16 I,Q pairs, big-endian unless flag 0x80. dBm = raw/10 - 127.
GPS_EPOCH = dt.datetime(1980, 1, 6, tzinfo=dt.timezone.utc)
LEAP = 18  # GPS - UTC in seconds since 2017-01-01


def snd_iq(flags, seq, dbm, gps_solution, gpssec, gpsnsec, pairs, little):
    raw = round((dbm + 127) * 10)
    head = b"SND" + struct.pack("<B", flags) + struct.pack("<I", seq) + struct.pack(">H", raw)
    head += struct.pack("<BBII", gps_solution, 0, gpssec, gpsnsec)
    fmt = "<hh" if little else ">hh"
    body = b"".join(struct.pack(fmt, i, q) for i, q in pairs)
    return head + body, raw


pairs = [(1000, -1000), (32767, -32768), (0, 1), (-1, 0)]
# The wall clock the test passes as "now", and the GPS week it falls in.
now = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.timezone.utc)
week = int(((now - GPS_EPOCH).total_seconds() + LEAP) // 604800)
# A stamp 2.25 s before `now` in GPS time of week.
tow = (now - GPS_EPOCH).total_seconds() + LEAP - week * 604800 - 2.25
gpssec, gpsnsec = int(tow), round((tow - int(tow)) * 1e9)
utc = GPS_EPOCH + dt.timedelta(weeks=week, seconds=gpssec, microseconds=gpsnsec / 1000) - dt.timedelta(seconds=LEAP)
for name, flags, little in [("kiwi_snd_iq_be", 0x08, False), ("kiwi_snd_iq_le", 0x88, True)]:
    data, raw = snd_iq(flags, 7, -50.3, 3, gpssec, gpsnsec, pairs, little)
    put(
        name,
        data,
        flags=flags,
        seq=7,
        smeter_raw=raw,
        rssi_dbm=raw / 10 - 127,
        last_gps_solution=3,
        gpssec=gpssec,
        gpsnsec=gpsnsec,
        now=now.isoformat().replace("+00:00", "Z"),
        gps_week=week,
        utc=utc.isoformat().replace("+00:00", "Z"),
        iq=[[i / 32768, q / 32768] for i, q in pairs],
    )
# The first packet: timestamps not initialised (all zero), S-meter at the clamp -127 dBm.
data, raw = snd_iq(0x08, 1, -127.0, 0, 0, 0, [(5, -5)], False)
put("kiwi_snd_iq_first", data, flags=8, seq=1, smeter_raw=raw, rssi_dbm=-127.0, last_gps_solution=0,
    gpssec=0, gpsnsec=0, gps_valid=False, iq=[[5 / 32768, -5 / 32768]])
# A truncated IQ header (17 of 20 bytes).
put("kiwi_snd_truncated", snd_iq(0x08, 2, -80, 3, 1, 2, [], False)[0][:17], error="truncated")
# MSG: "MSG " then space-separated name or name=value; some values percent-encoded.
for name, text, truth in [
    ("kiwi_msg_sample_rate", "MSG audio_init=0 audio_rate=12000 sample_rate=12001.135000",
     {"pairs": [["audio_init", "0"], ["audio_rate", "12000"], ["sample_rate", "12001.135000"]], "sample_rate": 12001.135}),
    ("kiwi_msg_too_busy", "MSG too_busy=4", {"pairs": [["too_busy", "4"]], "kind": "too_busy"}),
    ("kiwi_msg_badp", "MSG badp=1", {"pairs": [["badp", "1"]], "kind": "badp"}),
    ("kiwi_msg_redirect", "MSG redirect=http%3A%2F%2Fkiwi2.example%3A8074",
     {"pairs": [["redirect", "http%3A%2F%2Fkiwi2.example%3A8074"]], "kind": "redirect", "decoded": "http://kiwi2.example:8074"}),
    ("kiwi_msg_down", "MSG reason_disabled=Back%20at%2018%3A00 down=0",
     {"pairs": [["reason_disabled", "Back%20at%2018%3A00"], ["down", "0"]], "kind": "down", "decoded": "Back at 18:00"}),
    ("kiwi_msg_ip_limit", "MSG ip_limit=90%2C192.0.2.7", {"pairs": [["ip_limit", "90%2C192.0.2.7"]], "kind": "ip_limit", "decoded": "90,192.0.2.7"}),
    ("kiwi_msg_flag", "MSG cfg_loaded", {"pairs": [["cfg_loaded", None]]}),
]:
    put(name, text.encode(), **truth)

# -------------------------------------------------------------- OpenWebRX (WebSocket payloads)
# Binary frames: one type byte (0x01 FFT, 0x02 audio, 0x03 secondary FFT, 0x04 HD audio), then
# the payload. Uncompressed audio: int16 LE mono; uncompressed FFT: float32 LE dB.
samples = [0, 16384, -32768, 32767, -1]
put("owrx_audio_s16", b"\x02" + struct.pack("<5h", *samples), audio=[s / 32768 for s in samples])
bins = [-70.0, -100.5, -20.25, 0.0]
put("owrx_fft_f32", b"\x01" + struct.pack("<4f", *bins), fft_db=bins)

# IMA ADPCM (the standard tables), low nibble first, state carried across bytes.
STEPS = [7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88,
         97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494, 544, 598, 658, 724,
         796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327, 3660, 4026,
         4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500,
         20350, 22385, 24623, 27086, 29794, 32767]
INDEX = [-1, -1, -1, -1, 2, 4, 6, 8]


def ima_nibble(code, index, pred):
    """One 4-bit code: the new predictor (the decoded sample) and step index."""
    step = STEPS[index]
    diff = step >> 3
    if code & 4:
        diff += step
    if code & 2:
        diff += step >> 1
    if code & 1:
        diff += step >> 2
    pred = pred - diff if code & 8 else pred + diff
    pred = max(-32768, min(32767, pred))
    index = max(0, min(88, index + INDEX[code & 7]))
    return pred, index


def ima_decode(data, index=0, pred=0):
    out = []
    for byte in data:
        for code in (byte & 0x0F, byte >> 4):
            pred, index = ima_nibble(code, index, pred)
            out.append(pred)
    return out, index, pred


def ima_encode(samples, index=0, pred=0):
    codes = []
    for s in samples:
        step = STEPS[index]
        diff = s - pred
        code = 0
        if diff < 0:
            code, diff = 8, -diff
        if diff >= step:
            code |= 4
            diff -= step
        if diff >= step >> 1:
            code |= 2
            diff -= step >> 1
        if diff >= step >> 2:
            code |= 1
        pred, index = ima_nibble(code, index, pred)
        codes.append(code)
    if len(codes) % 2:
        codes.append(0)
    return bytes(codes[i] | codes[i + 1] << 4 for i in range(0, len(codes), 2))


# Plain ADPCM audio (1.0/1.1 style, no sync) of fixed bytes, decoded from index 0, predictor 0.
raw_codes = bytes([0x07, 0x7F, 0x08, 0x88, 0x31, 0xC4])
put("owrx_audio_adpcm_plain", b"\x02" + raw_codes, pcm=ima_decode(raw_codes)[0])
# Synced ADPCM (>= 1.2): "SYNC", step index i16 LE, predictor i16 LE, then ADPCM bytes whose
# decoding starts from that state.
put("owrx_audio_adpcm_sync", b"\x02" + b"SYNC" + struct.pack("<hh", 20, -1200) + raw_codes,
    pcm=ima_decode(raw_codes, 20, -1200)[0])
# ADPCM FFT: each frame coded from a fresh state, input short(dB*100) after 10 padding samples;
# decode, drop 10, divide by 100.
fft_db = [-70.0, -69.5, -60.25, -80.0, -75.0, -72.5]
pad = [int(fft_db[0] * 100)] * 10
code = ima_encode(pad + [int(round(x * 100)) for x in fft_db])
put("owrx_fft_adpcm", b"\x01" + code, fft_db=[x / 100 for x in ima_decode(code)[0][10:10 + len(fft_db)]],
    fft_db_source=fft_db)
# Text frames: JSON {"type":..., "value":...}; smeter is linear power, dBFS = 10*log10(value).
for name, obj, truth in [
    ("owrx_smeter", {"type": "smeter", "value": 0.001}, {"dbfs": 10 * math.log10(0.001)}),
    ("owrx_smeter_small", {"type": "smeter", "value": 2.5e-9}, {"dbfs": 10 * math.log10(2.5e-9)}),
    ("owrx_config", {"type": "config", "value": {"center_freq": 145000000, "samp_rate": 2400000,
                                                    "audio_compression": "adpcm", "fft_compression": "none"}},
     {"center_freq": 145e6, "samp_rate": 2.4e6}),
    ("owrx_backoff", {"type": "backoff", "reason": "Too many clients"}, {"reason": "Too many clients"}),
]:
    put(name, json.dumps(obj, separators=(",", ":")).encode(), **truth)
put("owrx_hello", b"CLIENT DE SERVER server=openwebrx version=v1.2.2", version=[1, 2], sync_adpcm=True)
put("owrx_hello_old", b"CLIENT DE SERVER server=openwebrx version=v1.1.0", version=[1, 1], sync_adpcm=False)

# ----------------------------------------------------------------------------- rtl_tcp (TCP)
# Header: "RTL0", tuner type u32 BE, gain count u32 BE. Samples: u8 I,Q, value (x - 127.5)/127.5.
put("rtl_header_r820t", b"RTL0" + struct.pack(">II", 5, 29), tuner=5, tuner_name="R820T", gains=29)
put("rtl_header_bad_magic", b"RTL1" + struct.pack(">II", 5, 29), error="magic")
iq = [0, 255, 127, 128, 200, 55]
put("rtl_samples", bytes(iq), iq=[[(iq[k] - 127.5) / 127.5, (iq[k + 1] - 127.5) / 127.5] for k in range(0, len(iq), 2)])
# Commands: id u8, parameter u32 BE.
put("rtl_cmd_freq", struct.pack(">BI", 0x01, 145_500_000), id=1, param=145_500_000)
put("rtl_cmd_rate", struct.pack(">BI", 0x02, 2_048_000), id=2, param=2_048_000)
put("rtl_cmd_ppm", struct.pack(">Bi", 0x05, -3), id=5, param=(-3) & 0xFFFFFFFF)

for name, data in frames.items():
    with open(os.path.join(HERE, name + ".bin"), "wb") as f:
        f.write(data)
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"{len(frames)} frames written")

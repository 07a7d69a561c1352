#!/usr/bin/env python3
"""A client of the old acquisition service's REST API, written against its pydantic models
(as JSON schemas) and its Celery status semantics, with nothing but the standard library and
jsonschema. Used by the heimdall-server tests: it must pass unchanged against the new server.

usage: legacy_api_client.py BASE_URL FAILING_WEBSDR_ID
"""
import json
import sys
import time
import urllib.error
import urllib.request

import jsonschema

BASE = sys.argv[1].rstrip("/")
FAILING = int(sys.argv[2])

NUM = {"type": "number"}
INT = {"type": "integer"}
STR = {"type": "string"}

TASK_RESPONSE = {  # AcquisitionTaskResponse
    "type": "object",
    "required": ["task_id", "status", "message", "frequency_mhz", "websdrs_count"],
    "properties": {"task_id": STR, "status": {"const": "PENDING"}, "message": STR,
                   "frequency_mhz": NUM, "websdrs_count": INT},
}
STATUS_RESPONSE = {  # AcquisitionStatusResponse
    "type": "object",
    "required": ["task_id", "status", "progress", "message", "measurements_collected"],
    "properties": {
        "task_id": STR,
        "status": {"enum": ["PENDING", "PROGRESS", "SUCCESS", "FAILURE", "REVOKED"]},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "message": STR,
        "measurements_collected": INT,
        "errors": {"anyOf": [{"type": "null"}, {"type": "array", "items": STR}]},
        "result": {"anyOf": [{"type": "null"}, {"type": "object"}]},
    },
}
METRICS = {  # SignalMetrics (values may be null when not measurable)
    "type": "object",
    "required": ["snr_db", "psd_dbm", "frequency_offset_hz", "signal_power_dbm", "noise_power_dbm"],
}
MEASUREMENT = {  # the measurement dicts of the task result
    "type": "object",
    "required": ["websdr_id", "frequency_mhz", "sample_rate_khz", "samples_count", "timestamp_utc",
                 "metrics", "iq_data_path"],
    "properties": {"websdr_id": INT, "frequency_mhz": NUM, "sample_rate_khz": NUM,
                   "samples_count": INT, "timestamp_utc": STR, "metrics": METRICS, "iq_data_path": STR},
}
RESULT = {  # acquire_iq's return value
    "type": "object",
    "required": ["task_id", "status", "measurements", "measurements_count", "errors", "start_time",
                 "end_time", "frequency_mhz", "duration_seconds"],
    "properties": {"status": {"enum": ["SUCCESS", "PARTIAL_FAILURE"]},
                   "measurements": {"type": "array", "items": MEASUREMENT},
                   "errors": {"type": "array", "items": STR}},
}
WEBSDR = {  # WebSDRConfig
    "type": "object",
    "required": ["id", "name", "url", "location_name", "latitude", "longitude", "is_active",
                 "timeout_seconds", "retry_count"],
    "properties": {"id": INT, "name": STR, "url": STR, "location_name": STR,
                   "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                   "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                   "is_active": {"type": "boolean"}, "timeout_seconds": INT, "retry_count": INT},
}
WEBSDR_HEALTH = {
    "type": "object",
    "patternProperties": {"^[0-9]+$": {
        "type": "object",
        "required": ["websdr_id", "name", "status", "last_check"],
        "properties": {"websdr_id": INT, "name": STR, "status": {"enum": ["online", "offline"]},
                       "last_check": STR},
    }},
    "additionalProperties": False,
}
CONFIG = {
    "type": "object",
    "required": ["service", "version", "capabilities", "websdrs_count", "max_duration_seconds",
                 "default_sample_rate_khz"],
    "properties": {"capabilities": {"type": "array", "items": STR}, "websdrs_count": INT},
}
HEALTH = {  # HealthResponse
    "type": "object",
    "required": ["status", "service", "version", "timestamp"],
    "properties": {"status": {"enum": ["healthy", "unhealthy"]}, "service": STR, "version": STR,
                   "timestamp": STR},
}
READY = {"type": "object", "required": ["ready", "service"], "properties": {"ready": {"type": "boolean"}}}
VALIDATION = {  # FastAPI's 422
    "type": "object", "required": ["detail"],
    "properties": {"detail": {"type": "array", "items": {
        "type": "object", "required": ["loc", "msg", "type"]}}},
}


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def check(schema, doc, what):
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as e:
        raise SystemExit(f"{what}: {e.message}\n{json.dumps(doc, indent=1)[:2000]}")


code, h = call("GET", "/health")
assert code == 200, (code, h)
check(HEALTH, h, "/health")
assert h["status"] == "healthy", h
code, r = call("GET", "/ready")
assert code == 200 and r["ready"] is True, (code, r)
check(READY, r, "/ready")

code, cfg = call("GET", "/api/v1/acquisition/config")
assert code == 200, (code, cfg)
check(CONFIG, cfg, "config")

code, websdrs = call("GET", "/api/v1/acquisition/websdrs")
assert code == 200, (code, websdrs)
check({"type": "array", "items": WEBSDR}, websdrs, "websdrs")
ids = [w["id"] for w in websdrs]
assert len(ids) == cfg["websdrs_count"] and FAILING in ids, (ids, cfg)

code, health = call("GET", "/api/v1/acquisition/websdrs/health")
assert code == 200, (code, health)
check(WEBSDR_HEALTH, health, "websdrs/health")
assert sorted(int(k) for k in health) == sorted(ids), (health.keys(), ids)
assert health[str(FAILING)]["status"] == "offline", health[str(FAILING)]

# Celery said PENDING for a task it does not know.
code, st = call("GET", "/api/v1/acquisition/status/00000000-0000-4000-8000-000000000000")
assert code == 200 and st["status"] == "PENDING", (code, st)
check(STATUS_RESPONSE, st, "unknown status")

code, err = call("POST", "/api/v1/acquisition/acquire", {"frequency_mhz": 145.5, "duration_seconds": 301})
assert code == 422, (code, err)
check(VALIDATION, err, "422")
assert err["detail"][0]["loc"][-1] == "duration_seconds", err
code, err = call("POST", "/api/v1/acquisition/acquire", {"frequency_mhz": 145.5, "duration_seconds": 1,
                                                          "websdrs": [999]})
assert code == 400, (code, err)

# A run with two working receivers and the failing one: old clients saw SUCCESS with the
# failure in `errors` (a list of strings).
good = [i for i in ids if i != FAILING][:2]
code, task = call("POST", "/api/v1/acquisition/acquire",
                  {"frequency_mhz": 145.5, "duration_seconds": 1.0, "websdrs": good + [FAILING]})
assert code == 200, (code, task)
check(TASK_RESPONSE, task, "acquire")
assert task["websdrs_count"] == 3, task
seen = set()
deadline = time.time() + 90
while True:
    code, st = call("GET", f"/api/v1/acquisition/status/{task['task_id']}")
    assert code == 200, (code, st)
    check(STATUS_RESPONSE, st, "status")
    seen.add(st["status"])
    if st["status"] in ("PENDING", "PROGRESS"):
        assert st.get("total") == 3 and 0 <= st.get("current", -1) <= 3, st
    if st["status"] not in ("PENDING", "PROGRESS"):
        break
    assert time.time() < deadline, st
    time.sleep(0.2)
assert st["status"] == "SUCCESS", st
assert st["progress"] == 100 and st["measurements_collected"] == 2, st
assert len(st["errors"]) == 1 and st["errors"][0].startswith(f"WebSDR {FAILING}:"), st["errors"]
check(RESULT, st["result"], "result")
res = st["result"]
assert res["status"] == "SUCCESS" and res["measurements_count"] == 2, res
assert sorted(m["websdr_id"] for m in res["measurements"]) == sorted(good), res["measurements"]
for m in res["measurements"]:
    assert m["frequency_mhz"] == 145.5 and m["samples_count"] > 0, m
print(json.dumps({"ok": True, "statuses_seen": sorted(seen), "task_id": task["task_id"], "good": good}))

#!/usr/bin/env python3
"""Check the replay accounting identity on `nodepack compare --output json` read from
standard input: every run has deleted_before_binding and pods_total = pods_scheduled +
pods_unschedulable + deleted_before_binding. Prints one line per run; exits 1 on a
broken identity."""
import json
import sys

doc = json.load(sys.stdin)
bad = 0
for r in doc["runs"]:
    t, s, u = r["pods_total"], r["pods_scheduled"], r["pods_unschedulable"]
    d = r["deleted_before_binding"]
    ok = t == s + u + d
    bad += not ok
    print(f"  {r['strategy']:<20} total {t} = scheduled {s} + unschedulable {u} + deleted before binding {d}: {'ok' if ok else 'BROKEN'}")
sys.exit(1 if bad else 0)

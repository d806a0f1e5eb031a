#!/usr/bin/env python3
"""Summarise fuzz/logs/*.log (written by run.sh) as Markdown tables for RESULTS.md.

    python3 fuzz/summarise.py            # every log
One row per run (date, target, seconds, executions, edges covered, features,
corpus size, crash/panic lines), then per-target totals.
"""
import glob
import os
import re
import sys
from collections import defaultdict

here = os.path.dirname(os.path.abspath(__file__))
runs = []
for f in sorted(glob.glob(os.path.join(here, "logs", "*.log"))):
    m = re.match(r"(.+)-(\d{4}-\d\d-\d\dT\d{4}Z)\.log$", os.path.basename(f))
    if not m:
        continue
    target, stamp = m.groups()
    s = open(f, errors="replace").read()
    done = re.findall(r"Done (\d+) runs in (\d+) second", s)
    units = re.findall(r"stat::number_of_executed_units: *(\d+)", s)
    cov = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)", s)
    crashes = len(re.findall(r"deadly signal|==ERROR|Test unit written", s)) > 0
    if done:
        execs, secs = int(done[-1][0]), int(done[-1][1])
    elif units:
        execs = int(units[-1])
        rate = re.findall(r"stat::average_exec_per_sec: *(\d+)", s)
        secs = round(execs / int(rate[-1])) if rate and int(rate[-1]) else 0
    else:
        continue  # still running or never started
    c = cov[-1] if cov else ("?", "?", "?")
    runs.append((stamp, target, secs, execs, c, crashes))

print("| started (UTC) | target | seconds | executions | edges | features | corpus | crash |")
print("|---|---|---:|---:|---:|---:|---:|---|")
for stamp, t, secs, execs, c, crash in runs:
    print(f"| {stamp} | {t} | {secs} | {execs:,} | {c[0]} | {c[1]} | {c[2]} | {'yes' if crash else 'no'} |")
tot = defaultdict(lambda: [0, 0, 0, 0])
for stamp, t, secs, execs, c, crash in runs:
    tot[t][0] += secs
    tot[t][1] += execs
    tot[t][2] = max(tot[t][2], int(c[0]) if c[0] != "?" else 0)
    tot[t][3] += crash
print()
print("| target | total seconds | total executions | max edges | runs with a crash |")
print("|---|---:|---:|---:|---:|")
for t in sorted(tot):
    s, e, cv, cr = tot[t]
    print(f"| {t} | {s} | {e:,} | {cv} | {cr} |")
short = [t for t in tot if tot[t][0] < 600]
if short:
    print(f"\nunder 10 minutes in total: {', '.join(sorted(short))}", file=sys.stderr)

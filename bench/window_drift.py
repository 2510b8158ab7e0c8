#!/usr/bin/env python3
"""How much of a layer predictor's test error is the host drifting between measurement windows.

A layer's label is measured once, in some window of minutes. On a shared host, memory-bound
kernels run a few percent faster or slower from one window to the next (the other tenants'
share of the last-level cache and memory bandwidth), the same for every network measured then.
No feature of a layer can predict that, so it is part of a predictor's test error.

This script splits it off. For each test layer it takes the median of ln(measured / predicted)
over the *other* test layers measured in the same window and memory band (the window's offset:
the layer's own label never informs its own correction) and scores the prediction against the
label divided by exp(offset). Memory bands (bytes read + written): < 2 MiB, 2-8 MiB, 8-32 MiB,
>= 32 MiB (the last-level cache of the machine this was written on is 32 MiB).

Input: a store whose predictions table holds test-split predictions (`dlbricks predictor eval P
--db STORE --target kernel`), with its layer sidecar STORE.layers.jsonl.

  bench/window_drift.py STORE [--minutes 10]             per predictor and family: raw MAPE and
                                                          MAPE against window-normalised labels
  bench/window_drift.py STORE --relabel OUT.db            also a copy of the store whose kernel
                                                          labels are window-normalised (offsets
                                                          from the mean residual of every recorded
                                                          predictor; leave-one-out for test layers)

Standard library only (no numpy on the machines this runs on).
"""
import argparse
import collections
import datetime
import json
import math
import os
import shutil
import sqlite3
import statistics
import sys

BANDS_MIB = (2, 8, 32)
MIN_NEIGHBOURS = 5


def fail(msg):
    print("window_drift: " + msg, file=sys.stderr)
    sys.exit(1)


def band_of(layer):
    mib = (layer["bytes_read"] + layer["bytes_written"]) / 2**20
    for i, edge in enumerate(BANDS_MIB):
        if mib < edge:
            return i
    return len(BANDS_MIB)


def band_name(b):
    lo = 0 if b == 0 else BANDS_MIB[b - 1]
    return "%d-%d MiB" % (lo, BANDS_MIB[b]) if b < len(BANDS_MIB) else ">= %d MiB" % lo


def epoch(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def load(store):
    sidecar = store + ".layers.jsonl"
    if not os.path.exists(store):
        fail(store + ": no such store")
    if not os.path.exists(sidecar):
        fail(sidecar + ": no layer sidecar beside the store")
    layers = {}
    with open(sidecar) as f:
        for n, line in enumerate(f, 1):
            try:
                j = json.loads(line)
                layers[j["item_id"]] = (j["family"], j["layer"])
            except (ValueError, KeyError) as e:
                fail("%s:%d: not a sidecar line (%s)" % (sidecar, n, e))
    try:
        db = sqlite3.connect("file:%s?mode=ro" % store, uri=True)
        # When each layer was measured: its kernel profile's time, else its latency row's.
        when = {i: epoch(t) for i, t in db.execute(
            "SELECT item_id, max(created_at) FROM measurements WHERE kind = 'brick' GROUP BY item_id")}
        when.update({i: epoch(t) for i, t in db.execute(
            "SELECT item_id, max(created_at) FROM op_profiles WHERE kind = 'brick' GROUP BY item_id")})
        preds = db.execute("SELECT predictor_id, predictor_kind, item_id, family, predicted_ms, measured_ms "
                           "FROM predictions WHERE split = 'test' AND measured_ms > 0 AND predicted_ms > 0").fetchall()
    except sqlite3.Error as e:
        fail("%s: %s" % (store, e))
    if not preds:
        fail(store + ": no test-split predictions (run `dlbricks predictor eval P --db STORE` first)")
    return layers, when, preds


def offsets(residuals, cell_of, items):
    """Leave-one-out median residual of each item's cell; 0 when the cell has too few others."""
    by_cell = collections.defaultdict(list)
    for i, r in residuals.items():
        by_cell[cell_of[i]].append((i, r))
    out = {}
    for i in items:
        others = [r for j, r in by_cell.get(cell_of[i], []) if j != i]
        out[i] = statistics.median(others) if len(others) >= MIN_NEIGHBOURS else 0.0
    return out, by_cell


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("store")
    ap.add_argument("--minutes", type=float, default=10, help="length of a measurement window (default 10)")
    ap.add_argument("--relabel", metavar="OUT", help="write a copy of the store with window-normalised kernel labels")
    a = ap.parse_args()
    if not a.minutes > 0:
        fail("--minutes must be > 0")
    if a.relabel and os.path.exists(a.relabel):
        fail(a.relabel + ": exists; give a new file")
    layers, when, preds = load(a.store)

    def cell(item):
        return (int(when[item] // (a.minutes * 60)), band_of(layers[item][1]))

    by_pred = collections.defaultdict(dict)
    kinds = {}
    for pid, kind, item, family, p, m in preds:
        if item in layers and item in when:
            by_pred[pid][item] = (family, p, m)
            kinds[pid] = kind
    cell_of = {i: cell(i) for i in layers if i in when}
    print("window %g min; offset = median ln(measured/predicted) of the other test layers of the window and band"
          % a.minutes)
    print("| predictor | family | n | MAPE % raw | MAPE % window-normalised |")
    print("|---|---|---:|---:|---:|")
    for pid in sorted(by_pred):
        rows = by_pred[pid]
        res = {i: math.log(m / p) for i, (_, p, m) in rows.items()}
        off, _ = offsets(res, cell_of, rows)
        err = collections.defaultdict(lambda: ([], []))
        for i, (fam, p, m) in rows.items():
            for key in (fam, "all"):
                err[key][0].append(abs(p / m - 1))
                err[key][1].append(abs(p * math.exp(off[i]) / m - 1))
        for fam in sorted(err, key=lambda f: (f == "all", f)):
            raw, norm = err[fam]
            print("| %s %s | %s | %d | %.2f | %.2f |" % (kinds[pid], pid[:8], fam, len(raw), 100 * statistics.mean(raw),
                                                      100 * statistics.mean(norm)))

    # The windows' offsets, from the mean residual over every recorded predictor.
    mean_res = collections.defaultdict(list)
    for rows in by_pred.values():
        for i, (_, p, m) in rows.items():
            mean_res[i].append(math.log(m / p))
    mean_res = {i: sum(v) / len(v) for i, v in mean_res.items()}
    _, by_cell = offsets(mean_res, cell_of, [])
    print("\n| window (UTC) | band | test layers | offset |")
    print("|---|---|---:|---:|")
    for (w, b), v in sorted(by_cell.items()):
        if len(v) >= MIN_NEIGHBOURS:
            start = datetime.datetime.fromtimestamp(w * a.minutes * 60, datetime.timezone.utc)
            print("| %s | %s | %d | %+.3f |" % (start.strftime("%Y-%m-%d %H:%M"), band_name(b), len(v),
                                               statistics.median(r for _, r in v)))
    if not a.relabel:
        return
    off, _ = offsets(mean_res, cell_of, list(cell_of))
    src = sqlite3.connect("file:%s?mode=ro" % a.store, uri=True)
    dst = sqlite3.connect(a.relabel)
    src.backup(dst)
    changed = 0
    for item, o in off.items():
        if o != 0.0:
            dst.execute("UPDATE op_profiles SET ms = ms * ? WHERE kind = 'brick' AND item_id = ?", (math.exp(-o), item))
            changed += 1
    dst.execute("DELETE FROM predictions")
    dst.commit()
    dst.close()
    shutil.copyfile(a.store + ".layers.jsonl", a.relabel + ".layers.jsonl")
    print("\nwrote %s: the kernel labels of %d layers divided by their window's offset (predictions cleared)"
          % (a.relabel, changed))


if __name__ == "__main__":
    main()

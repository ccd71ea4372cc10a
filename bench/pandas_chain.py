#!/usr/bin/python3
"""The pandas baseline of bench/run: the same chain as Kiln's ingest -> features -> trainset -> train, in one process.

    /usr/bin/python3 bench/pandas_chain.py DIR_OF_GENERATED_CSVS [--threads 2]

Debian's python3-pandas, python3-sklearn and python3-xgboost (no pip). Reads the CSVs `kiln generate` writes (the
files Kiln ingests), computes features mirroring conf/features/clicks.yaml point in time (every aggregate sees only
the entity's events strictly before the row's time; events at the same instant are excluded, as in Kiln), splits with
train_test_split(test_size=0.2, random_state=42), trains XGBClassifier(300 rounds, depth 6, eta 0.05, hist) and prints
one JSON line: wall seconds per stage and in all, test ROC AUC. Not Kiln's exact recipe: no validation split or early
stopping, no dedupe/validation/PII hashing, category codes instead of Kiln's frequency-ordered indexes.
"""
import argparse
import glob
import json
import os
import sys
import time

T0 = time.perf_counter()

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

SMOOTHING = 20.0  # clicks.yaml: smoothing 20 for user_ctr and item_ctr
BIG = np.int64(1) << 33  # composite sort key entity * BIG + epoch seconds (epoch seconds < 2^33 until 2242)


def window_counts(entity_codes, secs, windows):
    """Events of the same entity in [t - w, t) for each window w (seconds): binary search on the sorted (entity, time)
    key; 'left' at t excludes the row itself and every event at the same second."""
    key = entity_codes.astype(np.int64) * BIG + secs
    sorted_key = np.sort(key)
    here = np.searchsorted(sorted_key, key, side="left")
    return {w: here - np.searchsorted(sorted_key, key - w, side="left") for w in windows}


def history(df, entity):
    """Events, clicks and the previous event time strictly before each row, by a sorted groupby-cumsum: the cumulative
    sums exclude the row itself, and taking the first row of each (entity, time) tie group excludes same-instant
    events, as Kiln's rangeBetween(unboundedPreceding, -1) frames do."""
    s = df[[entity, "secs", "label"]].sort_values([entity, "secs"], kind="mergesort")
    g = s.groupby(entity, sort=False)
    s["events"] = g.cumcount()
    s["clicks"] = g["label"].cumsum() - s["label"]
    s["prev"] = g["secs"].shift(1)
    ties = s.groupby([entity, "secs"], sort=False)
    out = pd.DataFrame({c: ties[c].transform("first") for c in ("events", "clicks", "prev")}, index=s.index)
    return out.reindex(df.index)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src", help="directory of kiln generate's CSV files")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    stages = {}

    t = time.perf_counter()
    files = sorted(glob.glob(os.path.join(args.src, "*.csv")))
    if not files:
        sys.exit(f"pandas_chain: no CSV files in {args.src}")
    df = pd.concat([pd.read_csv(f, dtype={"event_id": str, "user_id": str, "item_id": str, "category": str,
                                          "device": str, "country": str, "price": float, "label": np.int8})
                    for f in files], ignore_index=True)
    ts = pd.to_datetime(df["timestamp"], utc=True)
    stages["read_s"] = time.perf_counter() - t

    t = time.perf_counter()
    df["secs"] = (ts.astype("int64") // 1_000_000_000).astype(np.int64)
    X = pd.DataFrame(index=df.index)
    X["hour"] = ts.dt.hour
    X["day_of_week"] = ts.dt.dayofweek
    X["is_weekend"] = (X["day_of_week"] >= 5).astype(np.int8)
    for c in ("category", "device", "country"):
        X[c] = df[c].astype("category").cat.codes  # nulls -> -1, Kiln's __missing__ bucket
    X["price_log"] = np.log1p(df["price"])
    X["price_bucket"] = np.digitize(df["price"], [5, 10, 20, 50, 100, 200])
    users = df["user_id"].astype("category").cat.codes.to_numpy()
    items = df["item_id"].astype("category").cat.codes.to_numpy()
    secs = df["secs"].to_numpy()
    u = window_counts(users, secs, (3600, 86400, 7 * 86400))
    X["user_events_1h"], X["user_events_24h"], X["user_events_7d"] = u[3600], u[86400], u[7 * 86400]
    X["item_events_24h"] = window_counts(items, secs, (86400,))[86400]
    uh, ih = history(df, "user_id"), history(df, "item_id")
    X["user_secs_since_prev"] = np.log1p(df["secs"] - uh["prev"])  # NaN: no earlier event (xgboost: missing)
    stages["features_s"] = time.perf_counter() - t

    t = time.perf_counter()
    idx_train, idx_test = train_test_split(df.index.to_numpy(), test_size=0.2, random_state=42)
    y = df["label"].to_numpy()
    prior = y[idx_train].mean()  # Kiln's CTR prior: the training split's label rate (no test labels leak in)
    X["user_ctr"] = (uh["clicks"] + SMOOTHING * prior) / (uh["events"] + SMOOTHING)
    X["item_ctr"] = (ih["clicks"] + SMOOTHING * prior) / (ih["events"] + SMOOTHING)
    X_train, X_test = X.loc[idx_train], X.loc[idx_test]
    stages["split_s"] = time.perf_counter() - t

    t = time.perf_counter()
    model = xgb.XGBClassifier(n_estimators=300, max_depth=6, learning_rate=0.05, tree_method="hist",
                              n_jobs=args.threads)
    model.fit(X_train, y[idx_train])
    stages["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    auc = roc_auc_score(y[idx_test], model.predict_proba(X_test)[:, 1])
    stages["evaluate_s"] = time.perf_counter() - t

    print(json.dumps({"rows": len(df), "train_rows": len(idx_train), "test_rows": len(idx_test),
                      "features": X.shape[1], "roc_auc": round(float(auc), 4),
                      **{k: round(v, 2) for k, v in stages.items()},
                      "wall_s": round(time.perf_counter() - T0, 2),
                      "versions": {"pandas": pd.__version__, "xgboost": xgb.__version__, "numpy": np.__version__}}))


if __name__ == "__main__":
    main()

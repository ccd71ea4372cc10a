"""Loads a Kiln run's native XGBoost booster (xgboost.json and xgboost.ubj) with Python's xgboost and compares its
predictions with the JVM's on the rows in native_check.csv. Prints one line per format:
  <file> rows=<n> max_abs_diff=<d>
Usage: python3 xgboost_crosscheck.py ARTIFACTS_DIR"""
import sys

import numpy as np
import xgboost as xgb

artifacts = sys.argv[1]
data = np.genfromtxt(f"{artifacts}/native_check.csv", delimiter=",", skip_header=1, dtype=np.float64)
p_jvm, features = data[:, 0], data[:, 1:]
print(f"python xgboost {xgb.__version__}, {features.shape[0]} rows x {features.shape[1]} features")
for name in ("xgboost.json", "xgboost.ubj"):
    booster = xgb.Booster()
    booster.load_model(f"{artifacts}/{name}")
    p = booster.predict(xgb.DMatrix(features, missing=np.nan))
    print(f"{name} rows={len(p)} max_abs_diff={np.abs(p - p_jvm).max():.3e}")

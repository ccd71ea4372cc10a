#!/usr/bin/python3
"""bench/run's report: reads the facts and sub-benchmark JSON files bench/run left in its work dir, prints the
markdown table of issue #13's ratios and writes OUT.json and OUT.md.   Usage: run_report.py WORK_DIR OUT_PREFIX"""
import json
import os
import sys

work, out = sys.argv[1], sys.argv[2]
facts = {}
with open(os.path.join(work, "facts.tsv")) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition("\t")
        facts[k] = v


def num(key):
    v = facts.get(key)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load(name):
    p = os.path.join(work, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def auc(key):
    v = num(key)
    return None if v is None else round(v, 4)


def gib(kb):
    return None if kb is None else round(kb / 1048576, 2)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else round(a / b, 2)


rows = int(facts["rows"])
pandas = load("pandas.json")
ingest = load("ingest.json")
features = load("features.json")
xgb = load("xgboost.json")

stages = []  # per process: name, wall s, peak RSS GiB, note


def stage(name, key, note=""):
    if num(key + ".wall_s") is not None:
        stages.append({"stage": name, "wall_s": num(key + ".wall_s"), "peak_rss_gib": gib(num(key + ".rss_kb")),
                       "note": note})


stage("kiln ingest (cold JVM)", "chain.ingest")
stage("kiln features (cold JVM)", "chain.features")
stage("kiln trainset (cold JVM)", "chain.trainset")
stage("kiln train --model xgboost (cold JVM)", "chain.train",
      f"XGBoost4J-Spark fit {facts['chain.fit_s']} s, {facts.get('chain.fit_rounds')} rounds"
      if "chain.fit_s" in facts else "")
tasks = ", ".join(f"{t} {facts.get(f'pipeline.{t}.task_s') or '-'} s" for t in ("ingest", "features", "trainset", "train"))
stage("kiln pipeline run bench/chain.yaml (one JVM)", "pipeline", "tasks: " + tasks)
if pandas:
    stage("pandas_chain.py", "pandas", ", ".join(f"{k[:-2]} {pandas[k]} s" for k in
                                                 ("read_s", "features_s", "split_s", "train_s", "evaluate_s")))
stage("bench/ingest.sh (one JVM, 3 cases, warm-up + 1 run)", "ingest")
stage("bench/features.sh (5 cold JVMs)", "features")
stage("bench/xgboost.sh (one JVM, warm-up + 1 run)", "xgboost")

cold_parts = [num(f"chain.{s}.wall_s") for s in ("ingest", "features", "trainset", "train")]
cold = round(sum(cold_parts), 1) if all(p is not None for p in cold_parts) else None
jvm = num("pipeline.wall_s")
pd_wall = num("pandas.wall_s")

ratios = []


def add(name, value, target, now, detail):
    ratios.append({"ratio": name, "value": value, "target": target, "issue_13_before": now, "detail": detail})


add("chain (4 cold JVMs) / pandas, wall", ratio(cold, pd_wall), "<= 2.0x at 1M, <= 1.0x at 5M", "9.8x at 1M",
    f"{cold} s vs {pd_wall} s; ROC AUC Kiln {auc('chain.roc_auc')} vs pandas "
    f"{pandas['roc_auc'] if pandas else None}")
add("chain (one JVM, kiln pipeline run) / pandas, wall", ratio(jvm, pd_wall), "<= 2.0x at 1M, <= 1.0x at 5M", "-",
    f"{jvm} s vs {pd_wall} s; ROC AUC Kiln {auc('pipeline.roc_auc')}")
ingest_speed = None
if ingest:
    by = {r["case"]: r for r in ingest["results"]}
    parquet = next(r for c, r in by.items() if "parquet" in c)
    kiln = next(r for c, r in by.items() if c.startswith("kiln"))
    ingest_speed = round(parquet["median_seconds"] / kiln["median_seconds"], 2)
    add("ingest speed vs plain Spark CSV -> Parquet", ingest_speed, ">= 0.8x", "0.18x",
        f"parquet {parquet['median_seconds']:.2f} s vs kiln ingest {kiln['median_seconds']:.2f} s "
        f"({ingest['lines']:,} lines, 1% defects, one JVM, after a warm-up, {ingest['repeats']} run)")
else:
    add("ingest speed vs plain Spark CSV -> Parquet", None, ">= 0.8x", "0.18x", "not run (skipped or failed)")
if features:
    steps = {s["step"]: s for s in features["steps"]}
    full, inc = steps["features-full"]["wall_s"], steps["features-incremental"]["wall_s"]
    add("features incremental (+10%) / full, wall", ratio(inc, full), "<= 0.3x", "1.4x",
        f"{inc} s vs {full} s (cold JVMs, bench/features.sh)")
else:
    add("features incremental (+10%) / full, wall", None, "<= 0.3x", "1.4x", "not run (skipped or failed)")
add("kiln train wall / its own XGBoost4J-Spark fit", ratio(num("chain.train.wall_s"), num("chain.fit_s")),
    "<= 1.5x", "~5x", f"{facts.get('chain.train.wall_s')} s cold `kiln train` vs {facts.get('chain.fit_s')} s fit "
                      "inside it (its log line)")
if xgb:
    plain, spark = xgb["plain_s"][0], xgb["spark_s"][0]
    add("XGBoost4J-Spark fit / plain xgboost4j, same matrix", round(xgb["ratio"], 2), "<= 1.2x (bench/README)",
        "1.11x", f"{spark:.2f} s vs {plain:.2f} s; AUC {xgb['spark_auc']:.4f} vs {xgb['plain_auc']:.4f} "
                 f"({xgb['train_rows']:,} train rows, {xgb['threads']} threads)")

report = {"benchmark": "bench/run", "rows": rows, "cores": int(facts["cores"]), "git_commit": facts.get("git_commit"),
          "java_opts": facts.get("java_opts"), "load_average": [num("load_start"), num("load_end")],
          "ratios": ratios, "stages": stages,
          "auc": {"kiln_cold_chain": auc("chain.roc_auc"), "kiln_one_jvm": auc("pipeline.roc_auc"),
                  "pandas": pandas["roc_auc"] if pandas else None},
          "pandas": pandas, "ingest": ingest, "features": features, "xgboost": xgb,
          "not_measured": ["driver heap per stage is in each command's own output (heap: line, "
                           "stage_peak_heap_mib in --json; the chain's logs under target/bench-run-N/), not in "
                           "this table"]}


def fmt(v, suffix=""):
    return "-" if v is None else f"{v}{suffix}"


md = [f"bench/run --rows {rows}: {facts['cores']} cores, commit {facts.get('git_commit')}, "
      f"load average {facts.get('load_start')} at the start, {facts.get('load_end')} at the end",
      "", "| ratio | measured | target | before (#13) | detail |", "| --- | --- | --- | --- | --- |"]
md += [f"| {r['ratio']} | **{fmt(r['value'], 'x')}** | {r['target']} | {r['issue_13_before']} | {r['detail']} |"
       for r in ratios]
md += ["", "| process | wall s | peak RSS GiB | note |", "| --- | --- | --- | --- |"]
md += [f"| {s['stage']} | {s['wall_s']} | {fmt(s['peak_rss_gib'])} | {s['note']} |" for s in stages]
md += ["", "Not in this table: " + "; ".join(report["not_measured"]) + "."]
text = "\n".join(md) + "\n"
print(text)
with open(out + ".json", "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
with open(out + ".md", "w") as f:
    f.write(text)
print(f"wrote {out}.json and {out}.md")

"""Tests for the Airflow side of Kiln's pipeline specs (deploy/airflow/dags).

    python3 -m unittest discover -s deploy/airflow/tests -v        (from the repository root)

Needs only Python 3 and PyYAML (Debian: python3-yaml). Airflow is not installed here: the DAG file is imported
against AIRFLOW STAND-INS defined below (a handful of recording classes installed into sys.modules for one test at a
time), so those tests check what kiln_dags.py asks of Airflow, not Airflow's own behaviour.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import io
import os
import stat
import sys
import tempfile
import types
import unittest
from pathlib import Path
from unittest import mock

import yaml

AIRFLOW_DIR = Path(__file__).resolve().parent.parent
REPO = AIRFLOW_DIR.parent.parent
DAGS_DIR = AIRFLOW_DIR / "dags"
SHIPPED_DIR = REPO / "conf" / "pipelines"
SHIPPED = sorted(SHIPPED_DIR.glob("*.yaml"))

sys.path.insert(0, str(DAGS_DIR))
import kiln_pipeline_spec as spec  # noqa: E402

# An independent reading of durations, for comparing with the module's.
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def seconds(text: str) -> int:
    return int(text[:-1]) * UNIT_SECONDS[text[-1]]


class ShippedSpecsTest(unittest.TestCase):
    """Every conf/pipelines/*.yaml loads, and its task graph is the one its YAML describes."""

    def test_there_are_shipped_specs(self):
        self.assertTrue(SHIPPED, f"no *.yaml in {SHIPPED_DIR}")

    def test_graph_equals_yaml(self):
        for path in SHIPPED:
            with self.subTest(spec=path.name):
                raw = yaml.safe_load(path.read_text(encoding="utf-8"))
                pipeline = spec.load(path)

                self.assertEqual(pipeline.name, raw["pipeline"])
                self.assertEqual(pipeline.dag_id, "kiln_" + raw["pipeline"])
                self.assertEqual(pipeline.schedule, raw["schedule"])
                self.assertEqual(pipeline.start_date, raw["start_date"])
                self.assertEqual(pipeline.catchup, raw.get("catchup", False))
                self.assertEqual(pipeline.params, {k: str(v) for k, v in (raw.get("params") or {}).items()})

                raw_tasks = {t["id"]: t for t in raw["tasks"]}
                self.assertEqual(set(pipeline.tasks), set(raw_tasks))
                raw_edges = {(up, t["id"]) for t in raw["tasks"] for up in t.get("depends_on", [])}
                edges = {(t.id, down) for t in pipeline.tasks.values() for down in t.downstream}
                self.assertEqual(edges, raw_edges)

                order = list(pipeline.tasks)
                defaults = raw.get("defaults") or {}
                for task_id, raw_task in raw_tasks.items():
                    task = pipeline.tasks[task_id]

                    def setting(key, default):
                        return raw_task.get(key, defaults.get(key, default))

                    self.assertEqual(list(task.args), [str(a) for a in raw_task["args"]]
                                     + ["--data-root", "{{ params.data_root }}"], task_id)
                    self.assertEqual(set(task.upstream), set(raw_task.get("depends_on", [])), task_id)
                    self.assertTrue(all(order.index(up) < order.index(task_id) for up in task.upstream), task_id)
                    self.assertEqual(task.retries, setting("retries", 0), task_id)
                    self.assertEqual(task.retry_delay.total_seconds(), seconds(setting("retry_delay", "5m")))
                    self.assertEqual(task.retry_exponential_backoff, setting("retry_exponential_backoff", False))
                    max_delay = setting("max_retry_delay", None)
                    self.assertEqual(task.max_retry_delay and task.max_retry_delay.total_seconds(),
                                     max_delay and seconds(max_delay), task_id)
                    timeout = setting("timeout", None)
                    self.assertEqual(task.timeout and task.timeout.total_seconds(), timeout and seconds(timeout))
                    if "branch" in raw_task:
                        self.assertEqual({code: list(ids) for code, ids in task.branch.items()},
                                         {int(code): list(ids) for code, ids in raw_task["branch"].items()})
                    else:
                        self.assertIsNone(task.branch, task_id)

    def test_every_argument_renders(self):
        for path in SHIPPED:
            with self.subTest(spec=path.name):
                pipeline = spec.load(path)
                params = dict(pipeline.params, data_root="/data/kiln")
                for task in pipeline.tasks.values():
                    rendered = [spec.render(a, "2026-03-02", params) for a in task.args]
                    self.assertFalse([a for a in rendered if "{" in a or "}" in a], task.id)
                    self.assertEqual(rendered[-2:], ["--data-root", "/data/kiln"])

    def test_daily_training_monitor_branches_on_exit_code(self):
        monitor = spec.load(SHIPPED_DIR / "daily_training.yaml").tasks["monitor"]
        self.assertEqual(monitor.branch_choice(3), ["retrain"])
        self.assertEqual(monitor.branch_choice(0), [])
        self.assertIsNone(monitor.branch_choice(1))
        self.assertIsNone(monitor.branch_choice(2))


def valid_spec() -> dict:
    """A small valid spec to break one thing at a time."""
    return {
        "pipeline": "p",
        "description": "test",
        "schedule": "0 6 * * *",
        "start_date": dt.date(2026, 3, 1),
        "catchup": False,
        "params": {"incoming": "in"},
        "defaults": {"retries": 2, "retry_delay": "30s", "retry_exponential_backoff": True,
                     "max_retry_delay": "10m", "timeout": "2h"},
        "tasks": [
            {"id": "ingest", "args": ["ingest", "--source", "{{ params.incoming }}/{{ ds }}"]},
            {"id": "monitor", "args": ["monitor", "--batch-id", "{{ ds }}"], "depends_on": ["ingest"],
             "retries": 0, "branch": {0: [], 3: ["retrain"]}},
            {"id": "retrain", "args": ["tune"], "depends_on": ["monitor"], "timeout": "4h"},
        ],
    }


class ValidationTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, data, text: str | None = None) -> str:
        path = os.path.join(self.dir.name, "bad.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text if text is not None else yaml.safe_dump(data, sort_keys=False))
        return path

    def assertSpecError(self, data, *fragments, task: str | None = None, text: str | None = None):
        path = self.write(data, text)
        with self.assertRaises(spec.SpecError) as caught:
            spec.load(path)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith(path + ": "), message)
        if task is not None:
            self.assertIn(f"task {task!r}: ", message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message

    def task(self, data, task_id):
        return next(t for t in data["tasks"] if t["id"] == task_id)

    def test_valid_spec_loads_with_defaults_merged(self):
        pipeline = spec.load(self.write(valid_spec()))
        self.assertEqual(list(pipeline.tasks), ["ingest", "monitor", "retrain"])
        ingest, monitor, retrain = pipeline.tasks.values()
        self.assertEqual((ingest.retries, monitor.retries, retrain.retries), (2, 0, 2))
        self.assertEqual(ingest.retry_delay, dt.timedelta(seconds=30))
        self.assertEqual(ingest.max_retry_delay, dt.timedelta(minutes=10))
        self.assertTrue(ingest.retry_exponential_backoff)
        self.assertEqual((ingest.timeout, retrain.timeout), (dt.timedelta(hours=2), dt.timedelta(hours=4)))
        self.assertEqual(monitor.branch, {0: (), 3: ("retrain",)})
        self.assertEqual(ingest.downstream, ("monitor",))

    def test_builtin_defaults_without_a_defaults_section(self):
        data = valid_spec()
        del data["defaults"]
        task = spec.load(self.write(data)).tasks["ingest"]
        self.assertEqual((task.retries, task.retry_delay, task.retry_exponential_backoff, task.max_retry_delay,
                          task.timeout), (0, dt.timedelta(minutes=5), False, None, None))

    def test_tasks_in_any_order_come_out_in_dependency_order(self):
        data = valid_spec()
        data["tasks"].reverse()
        self.assertEqual(list(spec.load(self.write(data)).tasks), ["ingest", "monitor", "retrain"])

    def test_cycle(self):
        data = valid_spec()
        self.task(data, "ingest")["depends_on"] = ["retrain"]
        self.assertSpecError(data, "depends_on: cycle ingest -> retrain -> monitor -> ingest", task="ingest")

    def test_task_depending_on_itself(self):
        data = valid_spec()
        self.task(data, "retrain")["depends_on"] = ["monitor", "retrain"]
        self.assertSpecError(data, "cycle retrain -> retrain", task="retrain")

    def test_unknown_dependency(self):
        data = valid_spec()
        self.task(data, "retrain")["depends_on"] = ["monitr"]
        self.assertSpecError(data, "depends_on: 'monitr' is not a task of this pipeline", task="retrain")

    def test_branch_to_a_task_that_is_not_downstream(self):
        data = valid_spec()
        self.task(data, "monitor")["branch"] = {0: [], 3: ["ingest"]}
        self.assertSpecError(data, "branch 3: 'ingest' is not a direct downstream task of 'monitor'", task="monitor")

    def test_branch_to_an_indirect_downstream_task(self):
        data = valid_spec()
        data["tasks"].append({"id": "report", "args": ["tables"], "depends_on": ["retrain"]})
        self.task(data, "monitor")["branch"] = {3: ["report"]}
        self.assertSpecError(data, "'report' is not a direct downstream task", task="monitor")

    def test_branch_to_an_unknown_task(self):
        data = valid_spec()
        self.task(data, "monitor")["branch"] = {3: ["retrian"]}
        self.assertSpecError(data, "'retrian' is not a direct downstream task", task="monitor")

    def test_branch_keys_are_unquoted_exit_codes(self):
        data = valid_spec()
        self.task(data, "monitor")["branch"] = {"3": ["retrain"]}
        self.assertSpecError(data, "branch: key '3' is not an exit code", task="monitor")
        self.task(data, "monitor")["branch"] = {256: ["retrain"]}
        self.assertSpecError(data, "branch: key 256 is not an exit code", task="monitor")

    def test_branch_values_are_lists(self):
        data = valid_spec()
        self.task(data, "monitor")["branch"] = {0: None, 3: ["retrain"]}
        self.assertSpecError(data, "branch 0: must be a list of task ids", task="monitor")

    def test_unknown_template(self):
        for template in ("{{ ts }}", "{{ ds | upper }}", "{{ macros.ds_add(ds, x) }}", "{{ macros.ds_format(ds) }}",
                         "{% if ds %}x{% endif %}", "{{ ds", "{# note #}"):
            with self.subTest(template=template):
                data = valid_spec()
                self.task(data, "retrain")["args"] = ["tune", "--id", f"x-{template}"]
                self.assertSpecError(data, "args[2]: ", task="retrain")

    def test_unknown_template_message_lists_the_allowed_ones(self):
        data = valid_spec()
        self.task(data, "retrain")["args"] = ["tune", "{{ ts_nodash }}"]
        self.assertSpecError(data, "unknown template '{{ ts_nodash }}'", spec.ALLOWED_TEMPLATES, task="retrain")

    def test_param_template_needs_a_declared_param(self):
        data = valid_spec()
        self.task(data, "retrain")["args"] = ["tune", "--register", "{{ params.model }}"]
        self.assertSpecError(data, "'{{ params.model }}' names no declared param (declared: data_root, incoming)",
                             task="retrain")

    def test_allowed_templates_with_any_spacing(self):
        data = valid_spec()
        self.task(data, "retrain")["args"] = ["tune", "{{ds}}", "{{  ds_nodash }}", "{{params.incoming}}",
                                              "{{ macros.ds_add( ds , -7 ) }}", "{{ params.data_root }}"]
        spec.load(self.write(data))

    def test_bad_durations(self):
        for value in ("30", "30 s", "1d", "1.5h", "-5m", 30, "", None):
            with self.subTest(value=value):
                data = valid_spec()
                self.task(data, "retrain")["timeout"] = value
                self.assertSpecError(data, f"timeout: {value!r} is not a duration like 30s, 10m or 2h",
                                     task="retrain")

    def test_bad_duration_in_defaults(self):
        data = valid_spec()
        data["defaults"]["retry_delay"] = "30sec"
        message = self.assertSpecError(data, "defaults: retry_delay: '30sec' is not a duration")
        self.assertNotIn("task ", message)

    def test_zero_timeout(self):
        data = valid_spec()
        self.task(data, "retrain")["timeout"] = "0s"
        self.assertSpecError(data, "timeout: must be more than 0s", task="retrain")

    def test_bad_cron(self):
        cases = {
            "0 6 * *": "has 4 fields, a cron expression has 5",
            "0 6 * * * *": "has 6 fields",
            "60 6 * * *": "minute field '60' is outside 0-59",
            "0 24 * * *": "hour field '24' is outside 0-23",
            "0 6 0 * *": "day of month field '0' is outside 1-31",
            "0 6 * 13 *": "month field '13' is outside 1-12",
            "0 6 * * 7": "day of week field '7' is outside 0-6",
            "0 6 * * MON": "day of week field 'MON' is not numbers",
            "*/0 * * * *": "has a step of 0",
            "0 9-5 * * *": "hour field '9-5' has a range that runs backwards",
            "5/10 * * * *": "minute field '5/10' is not numbers, ranges, * or steps (*/N, A-B/N)",
            "@yearly": "unknown preset '@yearly'",
            "@hourly": "unknown preset '@hourly'",
            "*/15 6 * * *": "fires more than once a day",
            "0 6,18 * * *": "fires more than once a day",
            "daily": "has 1 fields",
        }
        for cron, fragment in cases.items():
            with self.subTest(cron=cron):
                data = valid_spec()
                data["schedule"] = cron
                self.assertSpecError(data, "schedule: ", fragment)

    def test_good_crons_and_presets(self):
        cases = {"15 6 1,15 * 1-5": "15 6 1,15 * 1-5", "30  6 * 1-12/2 0": "30 6 * 1-12/2 0",
                 "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", None: None}
        for schedule, cron in cases.items():
            with self.subTest(schedule=schedule):
                data = valid_spec()
                data["schedule"] = schedule
                pipeline = spec.load(self.write(data))
                self.assertEqual((pipeline.schedule, pipeline.cron), (schedule, cron))

    def test_schedule_is_required_but_may_be_null(self):
        data = valid_spec()
        del data["schedule"]
        self.assertSpecError(data, "schedule is missing (null: manual runs only)")

    def test_names_and_ids(self):
        data = valid_spec()
        data["pipeline"] = "Daily-Training"
        self.assertSpecError(data, "pipeline: 'Daily-Training' is not a name")
        data = valid_spec()
        self.task(data, "retrain")["id"] = "re-train"
        self.assertSpecError(data, "tasks[2]: id 're-train' is not an id")
        data = valid_spec()
        self.task(data, "retrain")["id"] = "ingest"
        self.assertSpecError(data, "id is used by two tasks", task="ingest")

    def test_unknown_keys(self):
        data = valid_spec()
        data["schedule_interval"] = "@daily"
        self.assertSpecError(data, "unknown key 'schedule_interval'")
        data = valid_spec()
        self.task(data, "retrain")["retry"] = 3
        self.assertSpecError(data, "unknown key 'retry'", task="retrain")

    def test_data_root_belongs_to_the_runner(self):
        data = valid_spec()
        self.task(data, "retrain")["args"] = ["tune", "--data-root", "/x"]
        self.assertSpecError(data, "args[1]: --data-root is appended by the runner", task="retrain")
        data = valid_spec()
        data["params"]["data_root"] = "/x"
        self.assertSpecError(data, "params: 'data_root' is reserved")

    def test_args_and_params_are_text_or_whole_numbers(self):
        data = valid_spec()
        self.task(data, "retrain")["args"] = ["tune", "--trials", 4]
        self.assertEqual(spec.load(self.write(data)).tasks["retrain"].args[:3], ("tune", "--trials", "4"))
        data = valid_spec()
        self.task(data, "retrain")["args"] = ["tune", "--fast", True]
        self.assertSpecError(data, "args[2]: True must be text or a whole number", task="retrain")
        data = valid_spec()
        data["params"]["gain"] = 0.002
        self.assertSpecError(data, "params: gain: 0.002 must be text or a whole number")

    def test_start_date(self):
        data = valid_spec()
        data["start_date"] = "March 1st"
        self.assertSpecError(data, "start_date: 'March 1st' is not a date")

    def test_not_yaml(self):
        self.assertSpecError(None, "not valid YAML at line 3, column 1", text="pipeline: p\ntasks: [\n")

    def test_missing_file(self):
        with self.assertRaises(spec.SpecError) as caught:
            spec.load(os.path.join(self.dir.name, "none.yaml"))
        self.assertIn("none.yaml: cannot read", str(caught.exception))


class BranchChoiceTest(unittest.TestCase):
    def test_zero_not_listed_runs_every_direct_downstream_task(self):
        data = valid_spec()
        data["tasks"].append({"id": "report", "args": ["tables"], "depends_on": ["monitor"]})
        data["tasks"][1]["branch"] = {3: ["retrain"]}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "p.yaml")
            Path(path).write_text(yaml.safe_dump(data), encoding="utf-8")
            monitor = spec.load(path).tasks["monitor"]
        self.assertEqual(monitor.branch_choice(0), ["retrain", "report"])
        self.assertEqual(monitor.branch_choice(3), ["retrain"])
        self.assertIsNone(monitor.branch_choice(4))


class RenderTest(unittest.TestCase):
    PARAMS = {"incoming": "incoming/events", "model": "clicks", "data_root": "/data/kiln"}

    def test_ds_and_ds_nodash(self):
        self.assertEqual(spec.render("{{ params.incoming }}/{{ ds }}", "2026-03-02", self.PARAMS),
                         "incoming/events/2026-03-02")
        self.assertEqual(spec.render("day={{ds_nodash}}", dt.date(2026, 3, 2), self.PARAMS), "day=20260302")

    def test_ds_add(self):
        self.assertEqual(spec.render("{{ macros.ds_add(ds, 1) }}", "2026-02-28", {}), "2026-03-01")
        self.assertEqual(spec.render("{{ macros.ds_add(ds, 1) }}", "2028-02-28", {}), "2028-02-29")
        self.assertEqual(spec.render("{{ macros.ds_add(ds, -7) }}", "2026-03-02", {}), "2026-02-23")
        self.assertEqual(spec.render("{{ macros.ds_add( ds , 0 ) }}", "2026-03-02", {}), "2026-03-02")

    def test_params_and_plain_text(self):
        self.assertEqual(spec.render("{{ params.model }}@champion", "2026-03-02", self.PARAMS), "clicks@champion")
        self.assertEqual(spec.render("event_date = '{{ ds }}'", "2026-03-02", {}), "event_date = '2026-03-02'")
        self.assertEqual(spec.render("no templates", "2026-03-02", {}), "no templates")

    def test_a_param_value_is_not_rendered_again(self):
        self.assertEqual(spec.render("{{ params.x }}", "2026-03-02", {"x": "{{ ds }}"}), "{{ ds }}")

    def test_errors(self):
        with self.assertRaises(spec.SpecError):
            spec.render("{{ ts }}", "2026-03-02", {})
        with self.assertRaises(spec.SpecError):
            spec.render("{{ params.nope }}", "2026-03-02", {})
        with self.assertRaises(spec.SpecError):
            spec.render("{% raw %}", "2026-03-02", {})


class DryRunTest(unittest.TestCase):
    def test_lists_rendered_commands(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = spec.main([str(SHIPPED_DIR / "daily_training.yaml"), "--date", "2026-03-02",
                              "--data-root", "/data/kiln", "--param", "model=views"])
        self.assertEqual(code, 0)
        text = out.getvalue()
        self.assertIn("kiln_daily_training", text)
        self.assertIn("  ingest: kiln ingest --source incoming/events/2026-03-02 --table events "
                      "--data-root /data/kiln", text)
        self.assertIn("  retrain: kiln tune --trainset views-2026-03-02", text)
        self.assertIn("branch 0 -> [], 3 -> [retrain]", text)

    def test_reports_a_bad_spec_on_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.yaml")
            Path(path).write_text("pipeline: p\nschedule: null\nstart_date: 2026-03-01\ntasks: []\n", encoding="utf-8")
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = spec.main([path])
        self.assertEqual(code, 2)
        self.assertEqual(err.getvalue(), f"error: {path}: tasks: must be a non-empty list\n")


# ---------------------------------------------------------------------------------------------------------------------
# AIRFLOW STAND-INS, not Airflow: recording classes with the constructor keywords kiln_dags.py passes (checked against
# the real signatures in the apache/airflow sources), installed into sys.modules only inside StandInAirflowTest.
# ---------------------------------------------------------------------------------------------------------------------

NOTSET = object()


class StandInDAG:
    def __init__(self, *, dag_id, description=None, schedule=None, start_date=None, catchup=None,
                 max_active_runs=None, params=None, tags=None, doc_md=None):
        self.dag_id = dag_id
        self.description, self.schedule, self.start_date = description, schedule, start_date
        self.catchup, self.max_active_runs, self.params, self.tags = catchup, max_active_runs, params, tags
        self.task_dict = {}


class StandInParam:
    def __init__(self, default=NOTSET, description=None, **schema):
        self.value, self.description, self.schema = default, description, schema


class StandInCronDataIntervalTimetable:
    def __init__(self, cron, timezone):
        self.expression, self.timezone = cron, timezone


class StandInBaseOperator:
    def __init__(self, *, task_id, dag, retries=0, retry_delay=dt.timedelta(minutes=5),
                 retry_exponential_backoff=False, max_retry_delay=None, execution_timeout=None):
        self.task_id, self.dag = task_id, dag
        self.retries, self.retry_delay, self.retry_exponential_backoff = retries, retry_delay, retry_exponential_backoff
        self.max_retry_delay, self.execution_timeout = max_retry_delay, execution_timeout
        self.upstream_task_ids, self.downstream_task_ids = set(), set()
        dag.task_dict[task_id] = self

    def __rshift__(self, other):
        self.downstream_task_ids.add(other.task_id)
        other.upstream_task_ids.add(self.task_id)
        return other


class StandInSparkSubmitOperator(StandInBaseOperator):
    def __init__(self, *, application="", conf=None, conn_id="spark_default", java_class=None, name="arrow-spark",
                 application_args=None, **kwargs):
        super().__init__(**kwargs)
        self.application, self.conf, self.conn_id, self.java_class = application, conf, conn_id, java_class
        self.name, self.application_args = name, application_args


class StandInBranchPythonOperator(StandInBaseOperator):
    def __init__(self, *, python_callable, op_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.python_callable, self.op_kwargs = python_callable, op_kwargs


class StandInSparkSubmitHook:
    """Builds `<binary> --deploy-mode M --class C --name N --conf k=v... APP ARGS...` (the real hook puts the master
    and more in between); `binary` is set by the test to a fake spark-submit script."""

    binary = "spark-submit"

    def __init__(self, *, conf=None, conn_id="spark_default", java_class=None, name="default-name",
                 application_args=None, deploy_mode=None):
        self.conf, self.conn_id, self.java_class, self.name = conf, conn_id, java_class, name
        self.application_args, self.deploy_mode = application_args, deploy_mode

    def _build_spark_submit_command(self, application):
        conf = [x for key, value in self.conf.items() for x in ("--conf", f"{key}={value}")]
        return [self.binary, "--deploy-mode", self.deploy_mode, "--class", self.java_class, "--name", self.name,
                *conf, application, *self.application_args]


def module(name, **attributes):
    mod = types.ModuleType(name)
    mod.__path__ = []  # a package, so that an absent submodule is an ImportError, as in a real install
    mod.__dict__.update(attributes)
    return mod


def stand_in_modules(layout: str) -> dict:
    """sys.modules entries for the Airflow 3 layout (Task SDK, standard provider) or the Airflow 2 one."""
    mods = {name: module(name) for name in (
        "airflow", "airflow.providers", "airflow.providers.apache", "airflow.providers.apache.spark",
        "airflow.providers.apache.spark.hooks", "airflow.providers.apache.spark.operators", "airflow.timetables")}
    mods["airflow.providers.apache.spark.hooks.spark_submit"] = module(
        "airflow.providers.apache.spark.hooks.spark_submit", SparkSubmitHook=StandInSparkSubmitHook)
    mods["airflow.providers.apache.spark.operators.spark_submit"] = module(
        "airflow.providers.apache.spark.operators.spark_submit", SparkSubmitOperator=StandInSparkSubmitOperator)
    mods["airflow.timetables.interval"] = module(
        "airflow.timetables.interval", CronDataIntervalTimetable=StandInCronDataIntervalTimetable)
    if layout == "airflow3":
        mods["airflow.sdk"] = module("airflow.sdk", DAG=StandInDAG, Param=StandInParam)
        for name in ("airflow.providers.standard", "airflow.providers.standard.operators"):
            mods[name] = module(name)
        mods["airflow.providers.standard.operators.python"] = module(
            "airflow.providers.standard.operators.python", BranchPythonOperator=StandInBranchPythonOperator)
    else:
        mods["airflow.models"] = module("airflow.models")
        mods["airflow.models.dag"] = module("airflow.models.dag", DAG=StandInDAG)
        mods["airflow.models.param"] = module("airflow.models.param", Param=StandInParam)
        mods["airflow.operators"] = module("airflow.operators")
        mods["airflow.operators.python"] = module("airflow.operators.python",
                                                  BranchPythonOperator=StandInBranchPythonOperator)
    return mods


FAKE_SPARK_SUBMIT = """#!/bin/sh
# Fake spark-submit for the tests: prints a line, records its arguments, exits with $FAKE_EXIT.
echo "fake spark-submit: driver output"
printf '%s\\n' "$@" > "$FAKE_ARGS_FILE"
exit "${FAKE_EXIT:-0}"
"""


class StandInAirflowTest(unittest.TestCase):
    """kiln_dags.py imported against the stand-ins: one DAG per shipped spec, operators, edges, branch callable."""

    JAR = "/opt/kiln/kiln-cluster.jar"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def import_dags(self, layout="airflow3", **env):
        """Import a fresh kiln_dags under the stand-ins; returns its module-level DAGs."""
        environment = {"KILN_PIPELINES_DIR": str(SHIPPED_DIR), "KILN_JAR": self.JAR, "KILN_DATA_ROOT": "/data/kiln"}
        environment.update(env)
        environment = {k: v for k, v in environment.items() if v is not None}
        with mock.patch.dict(sys.modules, stand_in_modules(layout)), \
                mock.patch.dict(os.environ, environment, clear=False):
            for name in ("KILN_PIPELINES_DIR", "KILN_JAR", "KILN_DATA_ROOT", "KILN_SPARK_CONN_ID"):
                if name not in environment:
                    os.environ.pop(name, None)
            sys.modules.pop("kiln_dags", None)
            kiln_dags = importlib.import_module("kiln_dags")
        return {name: value for name, value in vars(kiln_dags).items() if isinstance(value, StandInDAG)}, kiln_dags

    def test_one_dag_per_spec_with_the_spec_graph(self):
        for layout in ("airflow3", "airflow2"):
            with self.subTest(layout=layout):
                dags, _ = self.import_dags(layout)
                self.assertEqual(set(dags), {"kiln_" + yaml.safe_load(p.read_text())["pipeline"] for p in SHIPPED})
                for path in SHIPPED:
                    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
                    dag = dags["kiln_" + raw["pipeline"]]
                    self.assertEqual(set(dag.task_dict), {t["id"] for t in raw["tasks"]})
                    for raw_task in raw["tasks"]:
                        op = dag.task_dict[raw_task["id"]]
                        self.assertEqual(op.upstream_task_ids, set(raw_task.get("depends_on", [])))
                        expected_class = (StandInBranchPythonOperator if "branch" in raw_task
                                          else StandInSparkSubmitOperator)
                        self.assertIs(type(op), expected_class, raw_task["id"])
                        args = op.op_kwargs["kiln_args"] if "branch" in raw_task else op.application_args
                        self.assertEqual(args, [str(a) for a in raw_task["args"]]
                                         + ["--data-root", "{{ params.data_root }}"])

    def test_daily_training_dag(self):
        dags, _ = self.import_dags()
        dag = dags["kiln_daily_training"]
        self.assertIsInstance(dag.schedule, StandInCronDataIntervalTimetable)
        self.assertEqual((dag.schedule.expression, dag.schedule.timezone), ("0 6 * * *", "UTC"))
        self.assertEqual(dag.start_date, dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
        self.assertEqual((dag.catchup, dag.max_active_runs), (False, 1))
        self.assertEqual(dag.params["model"], "clicks")
        self.assertEqual(dag.params["data_root"].value, "/data/kiln")

        ingest = dag.task_dict["ingest"]
        self.assertEqual(ingest.application, self.JAR)
        self.assertEqual(ingest.java_class, "dev.kiln.cli.KilnCli")
        self.assertEqual(ingest.conn_id, "spark_default")
        self.assertEqual(ingest.conf, {
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "spark.sql.session.timeZone": "UTC"})
        self.assertEqual((ingest.retries, ingest.retry_delay, ingest.retry_exponential_backoff,
                          ingest.max_retry_delay, ingest.execution_timeout),
                         (2, dt.timedelta(seconds=30), True, dt.timedelta(minutes=10), dt.timedelta(hours=2)))
        self.assertEqual(dag.task_dict["retrain"].execution_timeout, dt.timedelta(hours=4))
        monitor = dag.task_dict["monitor"]
        self.assertEqual((monitor.retries, monitor.downstream_task_ids), (0, {"retrain"}))

    def test_branch_callable_maps_the_exit_code(self):
        script = Path(self.tmp.name) / "spark-submit"
        script.write_text(FAKE_SPARK_SUBMIT, encoding="utf-8")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        args_file = Path(self.tmp.name) / "args.txt"
        dags, _ = self.import_dags(KILN_SPARK_CONN_ID="spark_kiln")
        dag = dags["kiln_daily_training"]
        monitor = dag.task_dict["monitor"]
        # What Airflow does before execute: render the templated op_kwargs (here with the module's own renderer).
        params = dict((k, v) for k, v in dag.params.items() if k != "data_root")
        params["data_root"] = dag.params["data_root"].value
        kiln_args = [spec.render(a, "2026-03-02", params) for a in monitor.op_kwargs["kiln_args"]]

        with mock.patch.object(StandInSparkSubmitHook, "binary", str(script)):
            for exit_code, expected in ((3, ["retrain"]), (0, [])):
                with self.subTest(exit_code=exit_code), \
                        mock.patch.dict(os.environ, {"FAKE_EXIT": str(exit_code), "FAKE_ARGS_FILE": str(args_file)}), \
                        self.assertLogs("airflow.task", "INFO") as logs:
                    self.assertEqual(monitor.python_callable(kiln_args=kiln_args), expected)
                self.assertIn("fake spark-submit: driver output", "\n".join(logs.output))
            with mock.patch.dict(os.environ, {"FAKE_EXIT": "1", "FAKE_ARGS_FILE": str(args_file)}), \
                    self.assertRaisesRegex(RuntimeError, "kiln monitor exited with 1, which is neither 0 nor a "
                                                         r"branch code \(0, 3\)"), \
                    self.assertLogs("airflow.task", "INFO"):
                monitor.python_callable(kiln_args=kiln_args)

        submitted = args_file.read_text(encoding="utf-8").splitlines()
        self.assertEqual(submitted[:6], ["--deploy-mode", "client", "--class", "dev.kiln.cli.KilnCli",
                                         "--name", "kiln daily_training.monitor"])
        app = submitted.index(self.JAR)
        self.assertIn("spark.sql.session.timeZone=UTC", submitted[:app])
        self.assertEqual(submitted[app + 1:], ["monitor", "--model", "clicks@champion", "--batch-id", "2026-03-02",
                                               "--data-root", "/data/kiln"])

    def test_scheduled_pipeline_needs_a_data_root(self):
        with self.assertRaisesRegex(spec.SpecError, r"daily_training\.yaml: schedule '0 6 \* \* \*' needs a default "
                                                    r"data root: set KILN_DATA_ROOT"):
            self.import_dags(KILN_DATA_ROOT=None)

    def test_manual_pipeline_gets_a_required_data_root_param(self):
        data = valid_spec()
        data["schedule"] = None
        Path(self.tmp.name, "manual.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        dags, _ = self.import_dags(KILN_PIPELINES_DIR=self.tmp.name, KILN_DATA_ROOT=None)
        dag = dags["kiln_p"]
        self.assertIsNone(dag.schedule)
        self.assertIs(dag.params["data_root"].value, NOTSET)
        self.assertEqual(dag.params["data_root"].schema, {"type": "string", "minLength": 1})

    def test_a_bad_spec_fails_the_import_with_its_message(self):
        data = valid_spec()
        data["tasks"][2]["depends_on"] = ["nope"]
        Path(self.tmp.name, "bad.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        with self.assertRaisesRegex(spec.SpecError, r"bad\.yaml: task 'retrain': depends_on: 'nope' is not a task"):
            self.import_dags(KILN_PIPELINES_DIR=self.tmp.name)

    def test_defaults_for_jar_and_pipelines_folder(self):
        with self.assertRaisesRegex(spec.SpecError, r"dags/pipelines: no such folder of pipeline specs"):
            self.import_dags(KILN_PIPELINES_DIR=None)
        dags, _ = self.import_dags(KILN_JAR=None)
        self.assertEqual(dags["kiln_daily_training"].task_dict["ingest"].application,
                         str(DAGS_DIR / "kiln-cluster.jar"))


if __name__ == "__main__":
    unittest.main()

"""Airflow DAGs for Kiln's scheduled pipelines: one DAG `kiln_<name>` per conf/pipelines/*.yaml.

The specs (format: docs/pipelines.md) are loaded and validated by kiln_pipeline_spec.py, next to this file; a spec
that does not validate makes this file fail to import, with the spec's one-line error (the Airflow UI lists it under
import errors).

Each task is one `kiln` command submitted with spark-submit (the Kiln cluster jar, main class dev.kiln.cli.KilnCli):
a SparkSubmitOperator, or, for a task with `branch`, a BranchPythonOperator that runs the same spark-submit itself in
client deploy mode and maps the driver's exit code to the downstream tasks to run.

Environment (read where the file is parsed: the scheduler / DAG processor and the workers, so set it on all of them):
  KILN_PIPELINES_DIR   folder of *.yaml specs (default: pipelines/ next to this file)
  KILN_JAR             the Kiln cluster jar, target/cluster/kiln-cluster.jar of `mvn -Pcluster -DskipTests package`
                       (default: kiln-cluster.jar next to this file)
  KILN_SPARK_CONN_ID   Airflow connection for spark-submit (default: spark_default)
  KILN_DATA_ROOT       default of the DAG param data_root; without it, data_root is a required param, which only a
                       manual-only pipeline (schedule: null) can have

Works on Airflow 2.7+ and 3.x with apache-airflow-providers-apache-spark 4.6+ (the first with `deploy_mode` on the
hook). Import paths per version are noted where they differ.
"""

from __future__ import annotations

import datetime as dt
import glob
import logging
import os
import subprocess
import sys

# Airflow 3 moved DAG authoring to the Task SDK (airflow.sdk); Airflow 2 has them under airflow.models.
try:
    from airflow.sdk import DAG, Param
except ImportError:
    from airflow.models.dag import DAG
    from airflow.models.param import Param

# Airflow 3 moved the Python operators to the standard provider (also installable on Airflow 2.9+).
try:
    from airflow.providers.standard.operators.python import BranchPythonOperator
except ImportError:
    from airflow.operators.python import BranchPythonOperator

# Newer Task SDKs export the timetables; Airflow 2 and 3.0/3.1 have it in airflow.timetables.
try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:
    from airflow.timetables.interval import CronDataIntervalTimetable

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

# Airflow puts the DAGs folder on sys.path, a DAG bundle's folder may not be: import the spec module from here.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import kiln_pipeline_spec as spec  # noqa: E402

KILN_MAIN_CLASS = "dev.kiln.cli.KilnCli"
# What jobs/submit.sh passes to every Kiln job: Delta's SQL extension and catalog, and UTC as the session time zone.
KILN_SPARK_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
}

log = logging.getLogger("airflow.task")


class KilnBranch:
    """The callable of a branching task: spark-submit the task's kiln command, return the downstream ids to run.

    An object rather than a closure or functools.partial: PythonOperator passes the callable only the context entries
    its signature names (KeywordParameters.determine in Airflow's operator helpers), and a bound keyword such as
    `conf` would be replaced by the context entry of the same name. The only parameter here is `kiln_args`, which
    the operator fills from op_kwargs after rendering its templates (op_kwargs is a templated field of
    PythonOperator in Airflow 2 and 3).
    """

    def __init__(self, task: spec.Task, pipeline_name: str, conn_id: str, application: str):
        self.task = task
        self.name = f"kiln {pipeline_name}.{task.id}"
        self.conn_id = conn_id
        self.application = application

    def __call__(self, kiln_args):
        exit_code = run_command(self.command(list(kiln_args)))
        chosen = self.task.branch_choice(exit_code)
        if chosen is None:
            listed = ", ".join(str(code) for code in sorted(self.task.branch))
            # An ordinary exception: the task fails and Airflow retries it (docs/pipelines.md: "anything else is a
            # failure and is retried").
            raise RuntimeError(f"kiln {self.task.id} exited with {exit_code}, which is neither 0 nor a branch code "
                               f"({listed})")
        log.info("kiln %s exited with %s: running %s", self.task.id, exit_code, chosen or "no downstream task")
        return chosen

    def command(self, kiln_args: list[str]) -> list[str]:
        """The spark-submit command line, built by the provider's own hook.

        SparkSubmitHook (airflow/providers/apache/spark/hooks/spark_submit.py) has no public way to get a run's exit
        code: submit() raises AirflowException("Cannot execute: ... Error code is: N") on any non-zero code. Its
        command builder _build_spark_submit_command(application) is private, but has had that signature from Airflow
        1.10 to the current provider, and using it gives this task exactly the connection handling of the
        SparkSubmitOperator tasks (master, spark-binary, queue, namespace, keytab, principal). deploy_mode="client"
        overrides the connection's deploy-mode extra (hook argument since provider 4.6.0) so that the driver runs
        inside spark-submit and its System.exit code is spark-submit's exit code; in cluster mode spark-submit would
        exit 0 once the driver is submitted.
        """
        hook = SparkSubmitHook(
            conf=dict(KILN_SPARK_CONF),
            conn_id=self.conn_id,
            java_class=KILN_MAIN_CLASS,
            name=self.name,
            application_args=kiln_args,
            deploy_mode="client",
        )
        return hook._build_spark_submit_command(self.application)


def run_command(command: list[str]) -> int:
    """Run a command, copy its output to the task log line by line, return its exit code.

    If the task is stopped meanwhile (execution_timeout, a kill from the UI), the exception Airflow raises in this
    process passes through here and the child is stopped too, instead of running on without a task.
    """
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               encoding="utf-8", errors="replace", bufsize=1)
    try:
        for line in process.stdout:
            log.info("%s", line.rstrip("\n"))
        return process.wait()
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


def build_dag(pipeline: spec.Pipeline, *, application: str, conn_id: str, data_root: str | None):
    """One DAG for one validated spec."""
    if data_root:
        data_root_param = Param(data_root, type="string", minLength=1,
                                description="Kiln data root of this run (--data-root of every task)")
    elif pipeline.cron is None:
        # No default: whoever triggers the run must give it (dag_run conf {"data_root": ...}).
        data_root_param = Param(type="string", minLength=1,
                                description="Kiln data root of this run (--data-root of every task); required")
    else:
        # Airflow refuses a scheduled DAG with a param that has no default; say why in Kiln's words instead.
        raise spec.SpecError(f"{pipeline.path}: schedule {pipeline.schedule!r} needs a default data root: set "
                             "KILN_DATA_ROOT where Airflow parses the DAG files (scheduler/DAG processor and workers)")

    # Explicitly the data-interval timetable: docs/pipelines.md fixes ds as the start of the interval a tick closes
    # (the run at 2026-03-03T06:00Z has ds 2026-03-02). Airflow 2 does that for a cron string; Airflow 3 makes a cron
    # string a CronTriggerTimetable (ds = the tick itself) unless [scheduler] create_cron_data_intervals is set.
    schedule = CronDataIntervalTimetable(pipeline.cron, timezone="UTC") if pipeline.cron else None

    dag = DAG(
        dag_id=pipeline.dag_id,
        description=pipeline.description or None,
        schedule=schedule,
        start_date=dt.datetime.combine(pipeline.start_date, dt.time(), tzinfo=dt.timezone.utc),
        catchup=pipeline.catchup,
        # docs/pipelines.md: with catchup "the scheduler starts every missed run in order": one run at a time.
        max_active_runs=1,
        # The spec's params are the defaults; a DAG run's conf overrides them ([core] dag_run_conf_overrides_params,
        # on by default in Airflow 2 and 3), like `--param NAME=VALUE` of kiln pipeline.
        params={**pipeline.params, spec.DATA_ROOT_PARAM: data_root_param},
        tags=["kiln"],
        doc_md=f"Kiln pipeline `{pipeline.name}` from `{pipeline.path}`. {pipeline.description}",
    )

    operators = {}
    for task in pipeline.tasks.values():
        common = dict(
            task_id=task.id,
            dag=dag,
            retries=task.retries,
            retry_delay=task.retry_delay,
            # A bool everywhere: Airflow 3 also takes a multiplier there and reads True as 2.0 (newsfragment 56866).
            retry_exponential_backoff=task.retry_exponential_backoff,
            max_retry_delay=task.max_retry_delay,
            execution_timeout=task.timeout,
        )
        if task.branch is None:
            operators[task.id] = SparkSubmitOperator(
                application=application,
                java_class=KILN_MAIN_CLASS,
                conn_id=conn_id,
                conf=dict(KILN_SPARK_CONF),
                name=f"kiln {pipeline.name}.{task.id}",
                # Templated field of SparkSubmitOperator (template_fields includes "application_args"): Airflow
                # renders {{ ds }}, {{ params.NAME }}, ... in each element before the submit.
                application_args=list(task.args),
                **common,
            )
        else:
            operators[task.id] = BranchPythonOperator(
                python_callable=KilnBranch(task, pipeline.name, conn_id, application),
                op_kwargs={"kiln_args": list(task.args)},  # templated, rendered like application_args
                **common,
            )
        for upstream in task.upstream:
            operators[upstream] >> operators[task.id]
    return dag


def build_dags(pipelines_dir: str, *, application: str, conn_id: str, data_root: str | None) -> dict:
    """dag_id -> DAG for every *.yaml in pipelines_dir; SpecError on the first spec that does not validate."""
    if not os.path.isdir(pipelines_dir):
        raise spec.SpecError(f"{pipelines_dir}: no such folder of pipeline specs (set KILN_PIPELINES_DIR)")
    dags, sources = {}, {}
    for path in sorted(glob.glob(os.path.join(pipelines_dir, "*.yaml"))):
        pipeline = spec.load(path)
        if pipeline.dag_id in dags:
            raise spec.SpecError(f"{path}: pipeline {pipeline.name!r} is also defined in {sources[pipeline.dag_id]}")
        dags[pipeline.dag_id] = build_dag(pipeline, application=application, conn_id=conn_id, data_root=data_root)
        sources[pipeline.dag_id] = path
    return dags


# Module-level DAG objects are what Airflow collects from a DAG file.
globals().update(build_dags(
    os.environ.get("KILN_PIPELINES_DIR") or os.path.join(_HERE, "pipelines"),
    application=os.environ.get("KILN_JAR") or os.path.join(_HERE, "kiln-cluster.jar"),
    conn_id=os.environ.get("KILN_SPARK_CONN_ID") or "spark_default",
    data_root=os.environ.get("KILN_DATA_ROOT") or None,
))

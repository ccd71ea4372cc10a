"""Kiln pipeline specs (conf/pipelines/*.yaml): load, validate, render.

The format is docs/pipelines.md. Kiln's embedded Java runner reads the same files, so this module is strict (unknown
keys, values of the wrong type and templates outside the common subset are errors) and says in one line which spec
file and which task are wrong.

Plain Python (stdlib + PyYAML, Debian's python3-yaml), no scheduler import: kiln_dags.py builds the DAGs from what
load() returns, the tests run without a scheduler installed, and the command line below lists a spec's rendered
commands without running anything:

    python3 deploy/airflow/dags/kiln_pipeline_spec.py conf/pipelines/daily_training.yaml --date 2026-03-02 \\
        --data-root /data/kiln [--param NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass

import yaml

NAME_RE = re.compile(r"[a-z][a-z0-9_]*")  # pipeline names and task ids (docs/pipelines.md)
PARAM_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what `{{ params.NAME }}` can reach as an attribute
DURATION_RE = re.compile(r"([0-9]+)([smh])")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}

# The data root is not part of a spec: the runner appends it to every task (docs/pipelines.md, `args`).
DATA_ROOT_PARAM = "data_root"
DATA_ROOT_ARGS = ("--data-root", "{{ params.data_root }}")

# Cron presets as 5-field expressions (the meaning Airflow and croniter give them). No @hourly: a run is for one
# logical day (`ds`), so a schedule fires at most once a day (the Java runner's CronSchedule has the same rule).
CRON_PRESETS = {
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}
# (name, lowest, highest) of the five cron fields; numbers only, day of week 0-6 with 0 = Sunday.
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
# One comma-separated item: `*`, `N`, `N-M`, or a step on `*` or a range (`*/15`, `0-30/5`).
CRON_ITEM_RE = re.compile(r"(\*|[0-9]+-[0-9]+)/([0-9]+)|\*|[0-9]+(?:-[0-9]+)?")

# The template subset both orchestrators render the same way. Whitespace inside the braces is free, as in Jinja.
TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.S)
TEMPLATE_FORMS = (
    ("ds", re.compile(r"\s*ds\s*")),
    ("ds_nodash", re.compile(r"\s*ds_nodash\s*")),
    ("param", re.compile(r"\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*")),
    ("ds_add", re.compile(r"\s*macros\.ds_add\(\s*ds\s*,\s*(-?[0-9]+)\s*\)\s*")),
)
ALLOWED_TEMPLATES = "{{ ds }}, {{ ds_nodash }}, {{ params.NAME }}, {{ macros.ds_add(ds, N) }}"
# Left over once the allowed templates are taken out, these would be Jinja syntax (or a broken template).
JINJA_MARKERS = ("{{", "}}", "{%", "{#")

TOP_KEYS = {"pipeline", "description", "schedule", "start_date", "catchup", "params", "defaults", "tasks"}
DEFAULT_KEYS = {"retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay", "timeout"}
TASK_KEYS = {"id", "args", "depends_on", "branch"} | DEFAULT_KEYS

# What a task gets when neither it nor `defaults` sets a key. docs/pipelines.md does not say; these are Airflow's own
# operator defaults, written out so that both orchestrators use the same numbers.
BUILTIN_DEFAULTS = {
    "retries": 0,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": False,
    "max_retry_delay": None,  # no cap
    "timeout": None,  # no limit
}


class SpecError(ValueError):
    """A spec that cannot be loaded; the message is one line naming the file (and the task, where there is one)."""


@dataclass(frozen=True)
class Task:
    id: str
    args: tuple[str, ...]  # the kiln command line, without `kiln`, ending with DATA_ROOT_ARGS; still templated
    upstream: tuple[str, ...]  # depends_on, in spec order
    downstream: tuple[str, ...]  # the tasks whose depends_on lists this one, in spec order
    retries: int
    retry_delay: dt.timedelta
    retry_exponential_backoff: bool
    max_retry_delay: dt.timedelta | None
    timeout: dt.timedelta | None
    branch: dict[int, tuple[str, ...]] | None  # exit code -> downstream task ids to run; None: not a branching task

    def branch_choice(self, exit_code: int) -> list[str] | None:
        """The downstream task ids a branching task's exit code selects, or None when the code is a failure.

        A code listed under `branch` picks its tasks. 0 is success even when not listed (docs/pipelines.md: "0 is
        success"), and then every direct downstream task runs, as for a task without `branch`. Anything else fails.
        """
        if self.branch is None:
            raise ValueError(f"task {self.id!r} has no branch")
        if exit_code in self.branch:
            return list(self.branch[exit_code])
        if exit_code == 0:
            return list(self.downstream)
        return None


@dataclass(frozen=True)
class Pipeline:
    path: str
    name: str
    description: str
    schedule: str | None  # the spec's value: a 5-field cron, a preset, or None (manual only)
    cron: str | None  # the schedule as a 5-field cron expression (presets expanded), in UTC
    start_date: dt.date
    catchup: bool
    params: dict[str, str]  # the spec's params; DATA_ROOT_PARAM is not among them
    tasks: dict[str, Task]  # in dependency order (a task after all of its upstream tasks), ties in spec order

    @property
    def dag_id(self) -> str:
        return f"kiln_{self.name}"


def parse_duration(value, what: str = "duration") -> dt.timedelta:
    """`30s`, `10m`, `2h` -> timedelta. Anything else (a bare number too) is a SpecError without a file name."""
    match = DURATION_RE.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise SpecError(f"{what}: {value!r} is not a duration like 30s, 10m or 2h")
    return dt.timedelta(seconds=int(match.group(1)) * DURATION_UNITS[match.group(2)])


def parse_cron(value) -> str | None:
    """A spec's `schedule` -> a 5-field cron expression, or None for null. SpecError without a file name."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"schedule: {value!r} is not a cron expression, a preset or null")
    if value.startswith("@"):
        if value not in CRON_PRESETS:
            raise SpecError(f"schedule: unknown preset {value!r} (use {', '.join(CRON_PRESETS)} or a 5-field cron)")
        return CRON_PRESETS[value]
    fields = value.split()
    if len(fields) != 5:
        raise SpecError(f"schedule: {value!r} has {len(fields)} fields, a cron expression has 5 "
                        "(minute hour day-of-month month day-of-week, in UTC)")
    for text, (name, low, high) in zip(fields, CRON_FIELDS):
        for item in text.split(","):
            match = CRON_ITEM_RE.fullmatch(item)
            if not match:
                raise SpecError(f"schedule: {value!r}: {name} field {text!r} is not numbers, ranges, * or "
                                "steps (*/N, A-B/N)")
            base = match.group(1) or item
            numbers = [int(n) for n in re.findall(r"[0-9]+", base)]
            if any(n < low or n > high for n in numbers):
                raise SpecError(f"schedule: {value!r}: {name} field {text!r} is outside {low}-{high}")
            if len(numbers) == 2 and numbers[0] > numbers[1]:
                raise SpecError(f"schedule: {value!r}: {name} field {text!r} has a range that runs backwards")
            if match.group(2) is not None and int(match.group(2)) == 0:
                raise SpecError(f"schedule: {value!r}: {name} field {text!r} has a step of 0")
    if not (fields[0].isdigit() and fields[1].isdigit()):
        raise SpecError(f"schedule: {value!r} fires more than once a day; a pipeline run is for one logical day, so "
                        "give one minute and one hour (e.g. 0 6 * * *)")
    return " ".join(fields)


def template_problem(text: str, declared_params) -> str | None:
    """Why `text` is not within the template subset, or None when it is."""
    for match in TEMPLATE_RE.finditer(text):
        form, name = _template_form(match.group(1))
        if form is None:
            return f"unknown template {match.group(0)!r} (allowed: {ALLOWED_TEMPLATES})"
        if form == "param" and name not in declared_params:
            known = ", ".join(sorted(declared_params))
            return f"{match.group(0)!r} names no declared param (declared: {known})"
    rest = TEMPLATE_RE.sub("", text)
    for marker in JINJA_MARKERS:
        if marker in rest:
            return f"{text!r}: {marker!r} outside a template (allowed: {ALLOWED_TEMPLATES})"
    return None


def render(template: str, ds, params) -> str:
    """Render the template subset the way Airflow's Jinja does for these forms.

    ds: the logical date (`YYYY-MM-DD` or a date); params: name -> value. One pass: a param value that itself looks
    like a template is not rendered again (Jinja does not re-render expression results either).
    """
    day = ds if isinstance(ds, dt.date) else dt.date.fromisoformat(ds)

    def one(match: re.Match) -> str:
        form, value = _template_form(match.group(1))
        if form == "ds":
            return day.isoformat()
        if form == "ds_nodash":
            return day.strftime("%Y%m%d")
        if form == "ds_add":  # airflow.macros.ds_add: the date plus N days, formatted YYYY-MM-DD
            return (day + dt.timedelta(days=int(value))).isoformat()
        if form == "param":
            if value not in params:
                raise SpecError(f"{match.group(0)}: no value for param {value!r}")
            return str(params[value])
        raise SpecError(f"unknown template {match.group(0)!r} (allowed: {ALLOWED_TEMPLATES})")

    rendered = TEMPLATE_RE.sub(one, template)
    rest = TEMPLATE_RE.sub("", template)
    for marker in JINJA_MARKERS:
        if marker in rest:
            raise SpecError(f"{template!r}: {marker!r} outside a template (allowed: {ALLOWED_TEMPLATES})")
    return rendered


def _template_form(expression: str):
    for form, pattern in TEMPLATE_FORMS:
        match = pattern.fullmatch(expression)
        if match:
            return form, (match.group(1) if match.groups() else None)
    return None, None


def load(path) -> Pipeline:
    """Read and validate one spec file; raises SpecError."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
    return _Loader(path).pipeline(raw)


class _Loader:
    def __init__(self, path: str):
        self.path = path

    def fail(self, message: str, task: str | None = None):
        where = f"{self.path}: task {task!r}: " if task is not None else f"{self.path}: "
        raise SpecError(where + " ".join(message.split("\n")))

    def pipeline(self, raw) -> Pipeline:
        if not isinstance(raw, dict):
            self.fail("a pipeline spec is a YAML mapping (pipeline, schedule, start_date, tasks, ...)")
        unknown = sorted(set(map(str, raw)) - TOP_KEYS)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(TOP_KEYS))})")
        for key in ("pipeline", "schedule", "start_date", "tasks"):
            if key not in raw:
                self.fail(f"{key} is missing" + (" (null: manual runs only)" if key == "schedule" else ""))

        name = raw["pipeline"]
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            self.fail(f"pipeline: {name!r} is not a name like daily_training ([a-z][a-z0-9_]*)")
        description = raw.get("description") or ""
        if not isinstance(description, str):
            self.fail("description: must be text")
        try:
            cron = parse_cron(raw["schedule"])
        except SpecError as e:
            self.fail(str(e))
        start_date = raw["start_date"]
        if isinstance(start_date, str):
            try:
                start_date = dt.date.fromisoformat(start_date)
            except ValueError:
                pass
        if not isinstance(start_date, dt.date) or isinstance(start_date, dt.datetime):
            self.fail(f"start_date: {raw['start_date']!r} is not a date like 2026-03-01")
        catchup = raw.get("catchup", False)
        if not isinstance(catchup, bool):
            self.fail(f"catchup: {catchup!r} is not true or false")

        params = self.params(raw.get("params"))
        defaults = raw.get("defaults") or {}
        if not isinstance(defaults, dict):
            self.fail("defaults: must be a mapping")
        unknown = sorted(set(map(str, defaults)) - DEFAULT_KEYS)
        if unknown:
            self.fail(f"defaults: unknown key {unknown[0]!r} (known: {', '.join(sorted(DEFAULT_KEYS))})")
        merged_defaults = dict(BUILTIN_DEFAULTS)
        merged_defaults.update(self.settings(defaults, None, "defaults: "))

        tasks = raw["tasks"]
        if not isinstance(tasks, list) or not tasks:
            self.fail("tasks: must be a non-empty list")
        parsed = [self.task(t, i, params, merged_defaults) for i, t in enumerate(tasks)]
        ids = [t["id"] for t in parsed]
        seen = set()
        for task_id in ids:
            if task_id in seen:
                self.fail("id is used by two tasks", task_id)
            seen.add(task_id)

        downstream = {task_id: [] for task_id in ids}
        for t in parsed:
            for up in t["upstream"]:
                if up not in downstream:
                    self.fail(f"depends_on: {up!r} is not a task of this pipeline", t["id"])
                downstream[up].append(t["id"])
        order = self.dependency_order(parsed)
        for t in parsed:
            for code, targets in (t["branch"] or {}).items():
                for target in targets:
                    if target not in downstream[t["id"]]:
                        self.fail(f"branch {code}: {target!r} is not a direct downstream task of {t['id']!r} "
                                  f"(branch targets must list {t['id']!r} in their depends_on)", t["id"])

        by_id = {t["id"]: t for t in parsed}
        return Pipeline(
            path=self.path, name=name, description=description, schedule=raw["schedule"], cron=cron,
            start_date=start_date, catchup=catchup, params=params,
            tasks={task_id: Task(downstream=tuple(downstream[task_id]), **by_id[task_id]) for task_id in order})

    def params(self, raw) -> dict[str, str]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail("params: must be a mapping of name: value")
        params = {}
        for key, value in raw.items():
            if not isinstance(key, str) or not PARAM_NAME_RE.fullmatch(key):
                self.fail(f"params: {key!r} is not a param name ([A-Za-z_][A-Za-z0-9_]*)")
            if key == DATA_ROOT_PARAM:
                self.fail(f"params: {DATA_ROOT_PARAM!r} is reserved: it is the pipeline run's data root "
                          "(--data-root of kiln pipeline, the DAG param data_root in Airflow)")
            # Text or whole numbers only: a YAML float or boolean would print differently in Jinja and in Java.
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                self.fail(f"params: {key}: {value!r} must be text or a whole number (quote it: \"{value}\")")
            params[key] = str(value)
        return params

    def settings(self, raw: dict, task: str | None, prefix: str) -> dict:
        """The retry/timeout keys present in `raw` (defaults or a task), parsed."""
        out = {}
        if "retries" in raw:
            retries = raw["retries"]
            if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
                self.fail(f"{prefix}retries: {retries!r} is not a whole number >= 0", task)
            out["retries"] = retries
        for key in ("retry_delay", "max_retry_delay", "timeout"):
            if key in raw:
                try:
                    out[key] = parse_duration(raw[key], prefix + key)
                except SpecError as e:
                    self.fail(str(e), task)
        if out.get("timeout") == dt.timedelta(0):
            self.fail(f"{prefix}timeout: must be more than 0s", task)
        if "retry_exponential_backoff" in raw:
            backoff = raw["retry_exponential_backoff"]
            if not isinstance(backoff, bool):
                self.fail(f"{prefix}retry_exponential_backoff: {backoff!r} is not true or false", task)
            out["retry_exponential_backoff"] = backoff
        return out

    def task(self, raw, index: int, params: dict, defaults: dict) -> dict:
        if not isinstance(raw, dict):
            self.fail(f"tasks[{index}]: a task is a mapping with id and args")
        task_id = raw.get("id")
        if not isinstance(task_id, str) or not NAME_RE.fullmatch(task_id):
            self.fail(f"tasks[{index}]: id {task_id!r} is not an id like ingest ([a-z][a-z0-9_]*)")
        unknown = sorted(set(map(str, raw)) - TASK_KEYS)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(TASK_KEYS))})", task_id)

        args = raw.get("args")
        if not isinstance(args, list) or not args:
            self.fail("args: must be a non-empty list (a kiln command line)", task_id)
        declared = set(params) | {DATA_ROOT_PARAM}
        kiln_args = []
        for i, arg in enumerate(args):
            if isinstance(arg, bool) or not isinstance(arg, (str, int)):
                self.fail(f"args[{i}]: {arg!r} must be text or a whole number (quote it)", task_id)
            arg = str(arg)
            if arg == "--data-root" or arg.startswith("--data-root="):
                self.fail(f"args[{i}]: --data-root is appended by the runner, leave it out", task_id)
            problem = template_problem(arg, declared)
            if problem:
                self.fail(f"args[{i}]: {problem}", task_id)
            kiln_args.append(arg)
        if kiln_args[0] == "kiln":
            self.fail("args: start with the kiln command (ingest, train, ...), not with 'kiln'", task_id)

        upstream = raw.get("depends_on") or []
        if not isinstance(upstream, list) or not all(isinstance(u, str) for u in upstream):
            self.fail("depends_on: must be a list of task ids", task_id)
        if len(set(upstream)) != len(upstream):
            self.fail("depends_on: lists a task twice", task_id)

        branch = None
        if "branch" in raw:
            branch = {}
            if not isinstance(raw["branch"], dict) or not raw["branch"]:
                self.fail("branch: must map exit codes to lists of task ids", task_id)
            for code, targets in raw["branch"].items():
                # YAML reads `3:` as an int and `"3":` as text; only the int is an exit code.
                if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
                    self.fail(f"branch: key {code!r} is not an exit code (a whole number 0-255, unquoted)", task_id)
                if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                    self.fail(f"branch {code}: must be a list of task ids ([] for none)", task_id)
                if len(set(targets)) != len(targets):
                    self.fail(f"branch {code}: lists a task twice", task_id)
                branch[code] = tuple(targets)

        settings = dict(defaults)
        settings.update(self.settings(raw, task_id, ""))
        return dict(id=task_id, args=tuple(kiln_args) + DATA_ROOT_ARGS, upstream=tuple(upstream), branch=branch,
                    **settings)

    def dependency_order(self, parsed: list) -> list[str]:
        """Task ids with every task after its upstream tasks (spec order among ready ones); fails on a cycle."""
        upstream = {t["id"]: t["upstream"] for t in parsed}
        order, done = [], set()
        while len(order) < len(parsed):
            ready = [t for t in upstream if t not in done and all(u in done for u in upstream[t])]
            if not ready:
                cycle = self.cycle([t for t in upstream if t not in done], upstream)
                self.fail(f"depends_on: cycle {' -> '.join(cycle)}", cycle[0])
            order.append(ready[0])
            done.add(ready[0])
        return order

    @staticmethod
    def cycle(left: list[str], upstream: dict) -> list[str]:
        """One cycle among the tasks left, as a path that ends where it starts (a -> b -> a)."""
        path, current = [], left[0]
        while current not in path:
            path.append(current)
            current = next(u for u in upstream[current] if u in left)
        # Every task left has an upstream task left, so the walk always comes back to a task on its path.
        return path[path.index(current):] + [current]


def main(argv=None) -> int:
    """Dry run: validate a spec and list each task's rendered kiln command line, in dependency order."""
    parser = argparse.ArgumentParser(description="Validate a Kiln pipeline spec and list its rendered commands.")
    parser.add_argument("spec", nargs="+", help="conf/pipelines/<name>.yaml")
    parser.add_argument("--date", help="logical date ds, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--data-root", default="<data_root>", help="the data_root param (default: a placeholder)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="override a param")
    options = parser.parse_args(argv)
    try:
        ds = dt.date.fromisoformat(options.date) if options.date else dt.datetime.now(dt.timezone.utc).date()
    except ValueError:
        print(f"error: --date {options.date!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    for path in options.spec:
        try:
            pipeline = load(path)
            params = dict(pipeline.params, **{DATA_ROOT_PARAM: options.data_root})
            for override in options.param:
                name, sep, value = override.partition("=")
                if not sep or name not in params:
                    raise SpecError(f"--param {override!r}: not NAME=VALUE with a declared param "
                                    f"({', '.join(sorted(params))})")
                params[name] = value
            print(f"{pipeline.dag_id}  schedule={pipeline.schedule} (cron {pipeline.cron})  ds={ds}  ({path})")
            for task in pipeline.tasks.values():
                command = " ".join(_shell_quote(render(a, ds, params)) for a in task.args)
                print(f"  {task.id}: kiln {command}")
                details = [f"after {', '.join(task.upstream)}" if task.upstream else "first",
                           f"retries {task.retries}"]
                if task.timeout:
                    details.append(f"timeout {task.timeout}")
                if task.branch is not None:
                    details.append("branch " + ", ".join(f"{code} -> [{', '.join(ids)}]"
                                                         for code, ids in sorted(task.branch.items())))
                print(f"      {'; '.join(details)}")
        except SpecError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


def _shell_quote(arg: str) -> str:
    return arg if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\"'\"'") + "'"


if __name__ == "__main__":
    sys.exit(main())

"""Mutation testing with cosmic-ray, on a copy of the tree: one module, the tests that must kill its mutants.

`mutate(module, tests)` copies the project's packages (never mutating the working tree), lets
cosmic-ray enumerate every mutant of `module`, skips the ones that cannot change behaviour (a
mutated type annotation in a module with postponed evaluation: `X | None` -> `X & None` is never
evaluated), runs `tests` against each of the others with a per-mutant timeout, and returns the
outcome. Deterministic: the mutants are enumerated, not sampled.

Used by the normal suite (`tests/contracts/test_mutants.py`, small modules, every mutant must be
killed) and by hand for the wider measurement (`python -m tests.mutation MODULE TEST... [--timeout S]`
prints the score and each survivor's diff).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

__all__ = ["Outcome", "annotation_spans", "mutate", "mutate_forked"]

ROOT = Path(__file__).resolve().parents[1]
COSMIC_RAY = Path(sys.executable).parent / "cosmic-ray"
#: What the mutated copy holds: every package and the pytest configuration.
_COPIED = ("contracts", "deploy", "gateway", "process_apis", "servicekit", "system_apis", "tests", "pyproject.toml")
#: Plugins the tests need when third-party autoloading is off (a tenth of the start-up time).
_PLUGINS = ("pytest_asyncio.plugin",)

_Span = tuple[tuple[int, int], tuple[int, int]]


@dataclass
class Outcome:
    """What became of a module's mutants: `killed`/`survivors` exclude the skipped annotation ones."""

    module: str
    total: int = 0
    skipped: int = 0
    killed: int = 0
    survivors: list[str] = field(default_factory=list)
    #: Mutants that are not valid Python (cosmic-ray mutates `*` in a signature): nothing to test.
    incompetent: int = 0
    #: Mutants `mutate_forked` could not put in place in the running module (see there).
    not_applied: list[str] = field(default_factory=list)

    @property
    def tested(self) -> int:
        return self.killed + len(self.survivors)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.tested if self.tested else 100.0


def annotation_spans(source: str) -> list[_Span]:
    """The (start, end) positions of the annotations nothing evaluates: those of undecorated functions
    (parameters, return, local variables) in a module that postpones annotations."""
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    if not postponed:
        return []
    annotations: list[ast.expr] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.decorator_list:
            # A decorated function may be a route handler whose annotations the framework reads.
            continue
        arguments = node.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        annotations.extend(a.annotation for a in every if a is not None and a.annotation is not None)
        if node.returns is not None:
            annotations.append(node.returns)
        # Local variable annotations are never evaluated (class-level ones may be, by msgspec).
        annotations.extend(n.annotation for n in ast.walk(node) if isinstance(n, ast.AnnAssign))
    return [
        ((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or a.col_offset)) for a in annotations
    ]


def _inside(start: tuple[int, int], end: tuple[int, int], spans: list[_Span]) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def _config(module: str, tests: list[str], timeout: float) -> str:
    plugins = " ".join(f"-p {plugin}" for plugin in _PLUGINS)
    command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider {plugins} {' '.join(tests)}"
    return "\n".join(
        [
            "[cosmic-ray]",
            f"module-path = {json.dumps(module)}",
            f"timeout = {timeout}",
            "excluded-modules = []",
            f"test-command = {json.dumps(command)}",
            "[cosmic-ray.distributor]",
            'name = "local"',
            "",
        ]
    )


def mutate(module: str, tests: list[str], *, workdir: Path, timeout: float = 60.0) -> Outcome:
    """Every non-annotation mutant of `module` (a path in the repository) run against `tests`."""
    for name in _COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workdir / name, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite"))
        else:
            shutil.copy(source, workdir / name)
    (workdir / "cr.toml").write_text(_config(module, tests, timeout))
    # The mutated copy, never the working tree; no third-party pytest plugins beyond _PLUGINS.
    env = {**os.environ, "PYTHONPATH": str(workdir), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

    def cosmic_ray(*args: str) -> str:
        done = subprocess.run(
            [str(COSMIC_RAY), *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=3600, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"cosmic-ray {args[0]} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return done.stdout

    session = workdir / "session.sqlite"
    cosmic_ray("init", "cr.toml", str(session))
    _skip_annotations(session, (workdir / module).read_text())
    cosmic_ray("baseline", "cr.toml")  # the unmutated copy passes its tests
    cosmic_ray("exec", "cr.toml", str(session))
    outcome = Outcome(module)
    for line in cosmic_ray("dump", str(session)).splitlines():
        if not line.strip():
            continue
        _, result = json.loads(line)
        outcome.total += 1
        if result is None:
            raise RuntimeError(f"cosmic-ray left a mutant of {module} untested")
        if result["worker_outcome"] == "skipped":
            outcome.skipped += 1
        elif result["test_outcome"] == "survived":
            outcome.survivors.append(result["diff"])
        elif result["test_outcome"] == "incompetent":
            outcome.incompetent += 1
        else:
            outcome.killed += 1
    return outcome


def _skip_annotations(session: Path, source: str) -> None:
    from cosmic_ray.work_db import WorkDB, use_db  # type: ignore[import-untyped]
    from cosmic_ray.work_item import WorkerOutcome, WorkResult  # type: ignore[import-untyped]

    spans = annotation_spans(source)
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            if all(_inside(m.start_pos, m.end_pos, spans) for m in item.mutations):
                db.set_result(
                    item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="annotation (not evaluated)")
                )


_NOT_APPLIED = 3


def mutate_forked(
    module: str, tests: list[str], *, timeout: float = 20.0, keyword: str | None = None, fresh: bool = True
) -> Outcome:
    """The same mutants as `mutate`, tested in forks of one warm process: a tenth of the time.

    Each forked child swaps the mutated code into the live module - each function's and method's
    code object, class attributes, module constants - and runs the tests. `fresh` (the default):
    the child runs `pytest.main` and imports the test modules anew, so what they build at import
    time (a route table, say) is built by the mutated code. `fresh=False`: the tests are collected
    once and each child runs the collected items (about three times faster); only for modules the
    test modules do not use at import time. Code that copied a mutated module constant at import
    time (`from m import CONSTANT` elsewhere) keeps the original value; a mutant whose code object
    cannot be swapped (different closure) is reported as not applied, never counted as killed. A
    child that outlives `timeout` counts as killed, as in cosmic-ray.
    """
    import pytest

    outcome = Outcome(module)
    mutants = _mutants(module, outcome)
    # No third-party plugin autoloading (most of a run's start-up), only those the tests need.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    plugins = [argument for plugin in _PLUGINS for argument in ("-p", plugin)]
    selection = ["-k", keyword] if keyword else []
    arguments = ["-x", "-q", "-p", "no:cacheprovider", *plugins, *selection, "--rootdir", str(ROOT)]
    arguments += [str(ROOT / t) for t in tests]
    target = importlib.import_module(module.removesuffix(".py").replace("/", "."))

    def record(diff: str, status: int) -> None:
        if status == _NOT_APPLIED:
            outcome.not_applied.append(diff)
        elif status == 0:
            outcome.survivors.append(diff)
        else:
            outcome.killed += 1

    if not fresh:
        loop = _CollectedLoop(target, mutants, timeout, record)
        # Quiet: the children report through their exit status (`-q` and `-ra` need the terminal).
        quiet = ["-p", "no:terminal", "-o", "addopts=--strict-markers --import-mode=importlib"]
        pytest.main([argument for argument in arguments if argument != "-q"] + quiet, plugins=[loop])
        if not loop.baseline_passed:
            raise RuntimeError(f"the tests of {module} fail without a mutant")
        return outcome
    if pytest.main(arguments) != 0:
        raise RuntimeError(f"the tests of {module} fail without a mutant")
    for name in [name for name in sys.modules if name.startswith("tests.") and name != __name__]:
        del sys.modules[name]

    def run() -> int:
        code = int(pytest.main(arguments))
        return 1 if code == _NOT_APPLIED else code

    for diff, mutated in mutants:
        record(diff, _run_forked(target, mutated, run, timeout))
    return outcome


def _mutants(module: str, outcome: Outcome) -> list[tuple[str, str]]:
    """(diff, mutated source) of every mutant cosmic-ray enumerates for `module`, less the skipped ones."""
    from cosmic_ray.commands import init  # type: ignore[import-untyped]
    from cosmic_ray.mutating import mutate_code  # type: ignore[import-untyped]
    from cosmic_ray.plugins import get_operator  # type: ignore[import-untyped]
    from cosmic_ray.work_db import WorkDB, use_db

    path = ROOT / module
    source = path.read_text()
    spans = annotation_spans(source)
    with (
        tempfile.TemporaryDirectory(prefix="fig-mutants-") as workdir,
        use_db(str(Path(workdir) / "session.sqlite"), WorkDB.Mode.create) as db,
    ):
        init([path], db, {})
        items = sorted(db.work_items, key=lambda item: _order(item.mutations[0]))
    mutants = []
    for item in items:
        mutation = item.mutations[0]
        outcome.total += 1
        if _inside(mutation.start_pos, mutation.end_pos, spans):
            outcome.skipped += 1
            continue
        operator = get_operator(mutation.operator_name)(**mutation.operator_args)
        mutated = mutate_code(source, operator, mutation.occurrence)
        if mutated is None:
            continue
        try:
            compile(mutated, module, "exec")
        except SyntaxError:
            outcome.incompetent += 1
            continue
        mutants.append((_diff(source, mutated, module), mutated))
    return mutants


class _CollectedLoop:
    """A pytest plugin that replaces the test loop: the collected items run once per mutant, each
    time in a forked child (first unmutated: the baseline)."""

    def __init__(
        self, target: ModuleType, mutants: list[tuple[str, str]], timeout: float, record: Callable[[str, int], None]
    ) -> None:
        self.target = target
        self.mutants = mutants
        self.timeout = timeout
        self.record = record
        self.baseline_passed = False

    def pytest_runtestloop(self, session: Any) -> bool:
        def run() -> int:
            items = session.items
            for index, item in enumerate(items):
                following = items[index + 1] if index + 1 < len(items) else None
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
                if session.testsfailed or session.shouldfail or session.shouldstop:
                    return 1
            return 0

        self.baseline_passed = _run_forked(self.target, None, run, self.timeout) == 0
        if self.baseline_passed:
            for diff, mutated in self.mutants:
                self.record(diff, _run_forked(self.target, mutated, run, self.timeout))
        return True


def _order(mutation: Any) -> tuple[str, int]:
    return (mutation.operator_name, mutation.occurrence)


def _diff(source: str, mutated: str, module: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        source.splitlines(), mutated.splitlines(), f"a/{module}", f"b/{module}", n=1, lineterm=""
    )
    return "\n".join(lines)


def _run_forked(target: ModuleType, mutated: str | None, run: Callable[[], int], timeout: float) -> int:
    """`run()` in a forked child with `mutated` swapped into `target` (None: unmutated); its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = _NOT_APPLIED
        try:
            stderr = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            if mutated is not None:
                try:
                    _swap_in(target, mutated)
                except Exception as exc:
                    os.write(stderr, f"mutant not applied: {type(exc).__name__}: {exc}\n".encode())
                    os._exit(_NOT_APPLIED)
            code = run()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 1
        time.sleep(0.005)


def _swap_in(target: ModuleType, mutated: str) -> None:
    """Put the mutated module's code into the live module's existing objects."""
    namespace: dict[str, Any] = {
        "__name__": target.__name__,
        "__file__": target.__file__,
        "__package__": target.__package__,
        "__spec__": target.__spec__,
    }
    with warnings.catch_warnings():
        # `x is "literal"` mutants warn; a test run that turns warnings into errors must not refuse them.
        warnings.simplefilter("ignore", SyntaxWarning)
        code = compile(mutated, target.__file__ or "<mutant>", "exec")
    exec(code, namespace)
    for name, new in namespace.items():
        if name.startswith("__"):
            continue
        old = target.__dict__.get(name)
        if isinstance(old, FunctionType) and isinstance(new, FunctionType) and old.__module__ == target.__name__:
            _swap_function(old, new)
        elif isinstance(old, type) and isinstance(new, type) and old.__module__ == target.__name__:
            _swap_class(old, new)
        else:
            target.__dict__[name] = new


def _swap_function(old: FunctionType, new: FunctionType) -> None:
    old.__code__ = new.__code__
    old.__defaults__ = new.__defaults__
    old.__kwdefaults__ = new.__kwdefaults__


def _struct_options(cls: type) -> dict[str, Any]:
    config = getattr(cls, "__struct_config__", None)
    return {name: getattr(config, name) for name in dir(config) if not name.startswith("_")}


def _swap_class(old: type, new: type) -> None:
    if getattr(old, "__slots__", None) != getattr(new, "__slots__", None):
        raise ValueError("slots changed")
    if _struct_options(old) != _struct_options(new):
        raise ValueError("msgspec Struct options changed (only cosmic-ray's own run applies those)")
    for name, value in vars(new).items():
        if name in ("__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__slots__"):
            continue
        current = vars(old).get(name)
        if isinstance(current, FunctionType) and isinstance(value, FunctionType):
            _swap_function(current, value)
        elif isinstance(current, (staticmethod, classmethod)) and isinstance(value, (staticmethod, classmethod)):
            _swap_function(current.__func__, value.__func__)  # type: ignore[arg-type]
        elif isinstance(current, property) and isinstance(value, property):
            for accessor in ("fget", "fset", "fdel"):
                before, after = getattr(current, accessor), getattr(value, accessor)
                if before is not None and after is not None:
                    _swap_function(before, after)
        elif type(value).__name__ == "member_descriptor":
            continue
        else:
            setattr(old, name, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="path of the module in the repository, e.g. gateway/policies/scopes.py")
    parser.add_argument("tests", nargs="+", help="test files (or node ids) that must kill its mutants")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant")
    parser.add_argument("--fork", action="store_true", help="test mutants in forks of one process (mutate_forked)")
    parser.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    parser.add_argument("-k", dest="keyword", help="with --fork: only the tests pytest -k selects")
    parser.add_argument(
        "--collected", action="store_true", help="with --fork: collect the tests once (mutate_forked fresh=False)"
    )
    args = parser.parse_args()
    if args.fork:
        outcome = mutate_forked(
            args.module, args.tests, timeout=args.timeout, keyword=args.keyword, fresh=not args.collected
        )
    else:
        with tempfile.TemporaryDirectory(prefix="fig-mutants-") as workdir:
            outcome = mutate(args.module, args.tests, workdir=Path(workdir), timeout=args.timeout)
    if args.json:
        sys.stdout.flush()
        print("\n" + json.dumps(asdict(outcome)))
        return
    for diff in outcome.survivors:
        print(diff)
    for diff in outcome.not_applied:
        print("not applied:", diff, sep="\n")
    print(
        f"{outcome.module}: {outcome.killed}/{outcome.tested} killed ({outcome.score:.1f} %), "
        f"{len(outcome.survivors)} survived, {outcome.skipped} annotation mutants skipped, "
        f"{outcome.incompetent} not valid Python, {len(outcome.not_applied)} not applied, {outcome.total} in all"
    )


if __name__ == "__main__":
    main()

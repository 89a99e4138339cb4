"""Running points in isolation: a local pool of worker processes, or a Dask cluster.

Each point runs in a worker process, never in the client: a segfault, a C++ ``abort`` or a
hung g++ becomes a ``failed`` result with its reason, and the study goes on. Local workers
are replaced after ``recycle`` points (one by default: see :func:`run_study` for why) so
compiled libraries never accumulate; a point past its timeout has its worker killed. On
Dask, each task runs its point in a child process on the Dask worker, so the same isolation
and timeout hold there.

Tasks may depend on another task (the point that trains a shared model runs first); the
dependent is released when its dependency finishes, whatever its status.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from deepsets_trigger.config import config_from_dict
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.pipeline import run_point


@dataclass
class Task:
    """One point to run: its config (plain dict), output directory and model cache."""

    point_id: str
    config: dict[str, Any]
    out: str
    model_cache: str
    depends_on: str | None = None


@dataclass
class Hooks:
    """Callbacks of the client: a task started, a task finished with its result."""

    started: Callable[[Task], None] = lambda task: None
    finished: Callable[[Task, dict[str, Any]], None] = lambda task, result: None


CRASH_HOOK = "DEEPSETS_TRIGGER_CRASH_POINT"  # fault injection for tests: this point id segfaults


def execute(task: Task) -> dict[str, Any]:
    """Run one point (in a worker). Never raises: problems become a failed result."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ.get(CRASH_HOOK) == task.point_id:
        os.kill(os.getpid(), signal.SIGSEGV)
    start = time.perf_counter()
    try:
        return run_point(config_from_dict(task.config), task.out, model_cache=task.model_cache)
    except BaseException as exc:  # a ToolkitError here is a bad grid value: still one failed row
        return failed(f"{type(exc).__name__}: {exc}", time.perf_counter() - start)


def failed(reason: str, seconds: float = 0.0) -> dict[str, Any]:
    """The result of a point that produced nothing else."""
    return {
        "status": "failed",
        "error": reason,
        "timings": {"train_s": None, "convert_s": None, "compile_s": None, "predict_s": None, "wall_s": seconds},
    }


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the client dies (even by kill -9): no orphan workers."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(conn: Any, log_path: str | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the client's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.setpgid(0, 0)  # the worker and its g++ / emulation children form one group the client can stop
    _die_with_parent()
    if log_path:  # TensorFlow and hls4ml talk a lot: keep the client's terminal for the progress bar
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        result = execute(task)
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the worker process died from signal {signal.Signals(-exitcode).name}"
    return f"the worker process exited with code {exitcode}"


@dataclass
class _Worker:
    process: Any
    conn: Any
    task: Task | None = None
    started: float = 0.0
    done: int = 0


@dataclass
class _Schedule:
    """Ready tasks and tasks waiting for their dependency."""

    ready: deque[Task] = field(default_factory=deque)
    waiting: dict[str, list[Task]] = field(default_factory=dict)

    @classmethod
    def of(cls, tasks: list[Task]) -> _Schedule:
        pending = {t.point_id for t in tasks}
        schedule = cls()
        for task in tasks:
            if task.depends_on in pending:
                schedule.waiting.setdefault(task.depends_on, []).append(task)
            else:
                schedule.ready.append(task)
        return schedule

    def release(self, point_id: str) -> None:
        self.ready.extend(self.waiting.pop(point_id, []))

    def __bool__(self) -> bool:
        return bool(self.ready or self.waiting)


class _LocalPool:
    """Spawned worker processes, each running one task at a time (see the module docstring)."""

    def __init__(self, hooks: Hooks, schedule: _Schedule, timeout: float | None, recycle: int, log: str | None) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.hooks, self.schedule, self.timeout, self.recycle, self.log = hooks, schedule, timeout, recycle, log
        self.workers: list[_Worker] = []

    def spawn(self) -> None:
        parent, child = self.ctx.Pipe()
        # not daemonic: a point starts its emulation child; workers exit on EOF when the client is gone
        process = self.ctx.Process(target=_worker_main, args=(child, self.log), daemon=False)
        process.start()
        child.close()
        self.workers.append(_Worker(process, parent))

    def retire(self, worker: _Worker, kill: bool = False) -> None:
        if kill:
            _kill_group(worker.process)
        else:
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        worker.process.join(timeout=10)
        if worker.process.is_alive():
            _kill_group(worker.process)
            worker.process.join()
        worker.conn.close()
        self.workers.remove(worker)

    def complete(self, worker: _Worker, result: dict[str, Any]) -> None:
        task, worker.task = worker.task, None
        self.hooks.finished(task, result)
        self.schedule.release(task.point_id)

    def dispatch(self, size: int) -> list[_Worker]:
        """Start ready tasks on idle workers (spawning up to ``size``); return the busy ones."""
        ready = self.schedule.ready
        while len(self.workers) < size and ready and sum(w.task is None for w in self.workers) < len(ready):
            self.spawn()
        for worker in self.workers:
            if worker.task is None and ready:
                worker.task, worker.started = ready.popleft(), time.monotonic()
                self.hooks.started(worker.task)
                worker.conn.send(worker.task)
        return [w for w in self.workers if w.task is not None]

    def check(self, worker: _Worker) -> None:
        """Collect a finished result, a dead worker or a timeout."""
        if worker.conn.poll():
            try:
                result = worker.conn.recv()
            except (EOFError, OSError):
                result = failed(_death_reason(worker.process.exitcode))
            self.complete(worker, result)
            worker.done += 1
            if worker.done >= self.recycle:
                self.retire(worker)
        elif not worker.process.is_alive():
            elapsed = time.monotonic() - worker.started
            self.complete(worker, failed(_death_reason(worker.process.exitcode), elapsed))
            self.retire(worker, kill=True)
        elif self.timeout is not None and time.monotonic() - worker.started > self.timeout:
            reason = f"timeout: the point ran longer than {self.timeout:g} s and was stopped"
            self.complete(worker, failed(reason, self.timeout))
            self.retire(worker, kill=True)


def run_local(
    tasks: list[Task],
    hooks: Hooks,
    workers: int,
    timeout: float | None,
    recycle: int = 1,
    log_path: str | None = None,
) -> None:
    """Run ``tasks`` on ``workers`` spawned processes; results go to ``hooks.finished``."""
    schedule = _Schedule.of(tasks)
    pool = _LocalPool(hooks, schedule, timeout, recycle, log_path)
    try:
        while schedule or any(w.task for w in pool.workers):
            busy = pool.dispatch(workers)
            if not busy:
                if schedule.waiting and not schedule.ready:  # dependency never submitted: release all
                    for key in list(schedule.waiting):
                        schedule.release(key)
                continue
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for worker in busy:
                pool.check(worker)
    finally:
        for worker in list(pool.workers):
            pool.retire(worker, kill=worker.task is not None)


def _kill_group(process: Any) -> None:
    """SIGKILL the worker and every process it started (a compile, an emulation)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def execute_isolated(task: Task, timeout: float | None) -> dict[str, Any]:
    """Run one point in a fresh Python process (what a Dask task does on its worker).

    A plain subprocess, not a multiprocessing child: Dask's worker processes are daemonic,
    and those may not start multiprocessing children.
    """
    import json
    import subprocess
    import sys
    import tempfile
    from dataclasses import asdict
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        task_file, result_file = Path(tmp) / "task.json", Path(tmp) / "result.json"
        task_file.write_text(json.dumps(asdict(task)))
        code = "import sys; from deepsets_trigger.study.runner import _run_task_file; _run_task_file(*sys.argv[1:])"
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(task_file), str(result_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return failed(f"timeout: the point ran longer than {timeout:g} s and was stopped", timeout or 0.0)
        if result_file.is_file():
            return json.loads(result_file.read_text())
        return failed(_death_reason(proc.returncode), time.monotonic() - start)


def _run_task_file(task_file: str, result_file: str) -> None:
    import json
    from pathlib import Path

    result = execute(Task(**json.loads(Path(task_file).read_text())))
    Path(result_file).write_text(json.dumps(result, default=str))


_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")


def connect_dask(address: str) -> Any:
    """A Dask client of the scheduler at ``address``; a bad or unreachable address is a user error.

    Raises:
        ToolkitError: the address is not ``SCHEME://HOST:PORT`` or nothing answers there.
    """
    import re
    import socket

    match = re.fullmatch(r"(\w+)://([^\s:/]+|\[[^\]]+\]):(\d+)/?", address.strip())
    if not match or match.group(1) not in _SCHEMES:
        raise ToolkitError(
            f"--scheduler {address!r} is not a Dask scheduler address; write it as tcp://HOST:PORT, e.g. "
            "tcp://127.0.0.1:8786 (the scheduler prints it when it starts)."
        )
    host, port = match.group(2).strip("[]"), int(match.group(3))
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise ToolkitError(
            f"--scheduler {address}: cannot reach the Dask scheduler ({exc.strerror or exc}); start it, or check "
            "the address."
        ) from None
    from dask.distributed import Client

    try:
        return Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ToolkitError(f"--scheduler {address}: cannot reach the Dask scheduler ({exc}).") from None


def run_dask(tasks: list[Task], hooks: Hooks, client: Any, timeout: float | None) -> None:
    """Send the points to a Dask cluster; results stream back to this client, which alone writes."""
    from dask.distributed import as_completed

    schedule = _Schedule.of(tasks)
    futures = as_completed()
    by_key: dict[str, Task] = {}

    def submit_ready() -> None:
        while schedule.ready:
            task = schedule.ready.popleft()
            future = client.submit(execute_isolated, task, timeout, key=f"point-{task.point_id}", pure=False)
            by_key[future.key] = task
            hooks.started(task)
            futures.add(future)

    submit_ready()
    for future in futures:
        task = by_key.pop(future.key)
        try:
            result = future.result()
        except Exception as exc:  # the Dask worker itself was lost
            result = failed(f"Dask task failed: {type(exc).__name__}: {exc}")
        hooks.finished(task, result)
        schedule.release(task.point_id)
        submit_ready()

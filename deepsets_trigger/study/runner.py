"""Running groups of points in isolation: a local pool of worker processes, or a Dask cluster.

A group (:mod:`.groups`: the points of one trained model) runs in a worker process, never in the
client: a segfault, a C++ ``abort`` or a hung g++ becomes a ``failed`` result for the point that
was running, with its reason, and the group's other points go on in a fresh worker. Workers
report each point as it starts and finishes, so the store and the progress bar follow points,
and a point past its timeout has its worker (and the worker's compiles) killed. Local workers
are replaced after ``recycle`` groups (one by default: one process, one TensorFlow import, per
trained model). On Dask, each task runs its group in a child process on the Dask worker.
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
from deepsets_trigger.pipeline import PointRun
from deepsets_trigger.study.groups import Group, Task, regroup, run_group


@dataclass
class Hooks:
    """Callbacks of the client: a task started, a task finished with its result."""

    started: Callable[[Task], None] = lambda task: None
    finished: Callable[[Task, dict[str, Any]], None] = lambda task, result: None


CRASH_HOOK = "DEEPSETS_TRIGGER_CRASH_POINT"  # fault injection for tests: this point id segfaults


def begin(task: Task, plan: str | None = None, verified_on: tuple[str, ...] = ()) -> Any:
    """Start one point (in a worker): a :class:`PointRun` to finish, or already its result. Never raises."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ.get(CRASH_HOOK) == task.point_id:
        os.kill(os.getpid(), signal.SIGSEGV)
    start = time.perf_counter()
    try:
        point = PointRun(config_from_dict(task.config), task.out, None, False, task.model_cache, plan, verified_on)
        return point.start() or point
    except Exception as exc:  # a ToolkitError here is a bad grid value: still one failed row
        return failed(f"{type(exc).__name__}: {exc}", time.perf_counter() - start)


def end(started: Any) -> dict[str, Any]:
    """Finish a point :func:`begin` started. Never raises: problems become a failed result."""
    if isinstance(started, dict):
        return started
    try:
        return started.finish()
    except Exception as exc:
        return failed(f"{type(exc).__name__}: {exc}")


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
            group = conn.recv()
        except (EOFError, OSError):
            return
        if group is None:
            return
        try:
            run_group(
                group,
                begin,
                end,
                lambda task: conn.send(("started", task.point_id, None)),
                lambda task, result: conn.send(("finished", task.point_id, result)),
            )
            conn.send(("done", None, None))
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
    group: Group | None = None
    pending: dict[str, Task] = field(default_factory=dict)  # points of the group not finished yet
    current: Task | None = None
    started: float = 0.0
    done: int = 0


class _LocalPool:
    """Spawned worker processes, each running one group at a time (see the module docstring)."""

    def __init__(self, hooks: Hooks, queue: deque[Group], timeout: float | None, recycle: int, log: str | None) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.hooks, self.queue, self.timeout, self.recycle, self.log = hooks, queue, timeout, recycle, log
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

    def dispatch(self, size: int) -> list[_Worker]:
        """Start queued groups on idle workers (spawning up to ``size``); return the busy ones."""
        while len(self.workers) < size and self.queue and sum(w.group is None for w in self.workers) < len(self.queue):
            self.spawn()
        for worker in self.workers:
            if worker.group is None and self.queue:
                worker.group = self.queue.popleft()
                worker.pending = {t.point_id: t for t in worker.group.tasks}
                worker.started = time.monotonic()
                worker.conn.send(worker.group)
        return [w for w in self.workers if w.group is not None]

    def check(self, worker: _Worker) -> None:
        """Collect the worker's reports; a dead worker or a timeout fails its current point only."""
        try:
            while worker.group is not None and worker.conn.poll():
                self._message(worker, *worker.conn.recv())
        except (EOFError, OSError):
            pass
        if worker.group is None:
            if worker.done >= self.recycle:
                self.retire(worker)
        elif not worker.process.is_alive():
            self._abandon(worker, failed(_death_reason(worker.process.exitcode), time.monotonic() - worker.started))
        elif self.timeout is not None and worker.current and time.monotonic() - worker.started > self.timeout:
            reason = f"timeout: the point ran longer than {self.timeout:g} s and was stopped"
            self._abandon(worker, failed(reason, self.timeout))

    def _message(self, worker: _Worker, kind: str, point_id: str | None, result: Any) -> None:
        if kind == "started":
            worker.current, worker.started = worker.pending[point_id], time.monotonic()
            self.hooks.started(worker.current)
        elif kind == "finished":
            self.hooks.finished(worker.pending.pop(point_id), result)
            worker.current = None
        else:  # done
            worker.group, worker.done = None, worker.done + 1

    def _abandon(self, worker: _Worker, result: dict[str, Any]) -> None:
        """Fail the running point, requeue the group's other points, replace the worker."""
        if worker.current is not None:
            self.hooks.finished(worker.pending.pop(worker.current.point_id), result)
        if worker.pending:
            self.queue.appendleft(regroup(worker.group, list(worker.pending.values())))
        worker.group = None
        self.retire(worker, kill=True)


def run_local(
    groups: list[Group],
    hooks: Hooks,
    workers: int,
    timeout: float | None,
    recycle: int = 1,
    log_path: str | None = None,
) -> None:
    """Run ``groups`` on ``workers`` spawned processes; each point's result goes to ``hooks.finished``."""
    queue = deque(groups)
    pool = _LocalPool(hooks, queue, timeout, recycle, log_path)
    try:
        while queue or any(w.group for w in pool.workers):
            busy = pool.dispatch(workers)
            if not busy:
                continue
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for worker in busy:
                pool.check(worker)
    finally:
        for worker in list(pool.workers):
            pool.retire(worker, kill=worker.group is not None)


def _kill_group(process: Any) -> None:
    """SIGKILL the worker and every process it started (a compile, an emulation)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def execute_isolated(group: Group, timeout: float | None) -> list[tuple[str, dict[str, Any]]]:
    """Run one group in a fresh Python process (what a Dask task does on its worker).

    A plain subprocess, not a multiprocessing child: Dask's worker processes are daemonic, and
    those may not start multiprocessing children. ``timeout`` bounds each point.
    """
    import json
    import subprocess
    import sys
    import tempfile
    from dataclasses import asdict
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        group_file, result_file = Path(tmp) / "group.json", Path(tmp) / "results.json"
        group_file.write_text(json.dumps(asdict(group)))
        code = "import sys; from deepsets_trigger.study.runner import _run_group_file; _run_group_file(*sys.argv[1:])"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(group_file), str(result_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        limit = None if timeout is None else timeout * len(group.tasks)
        try:
            proc.wait(timeout=limit)
            reason = _death_reason(proc.returncode)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reason = f"timeout: the group ran longer than {limit:g} s and was stopped"
        done = json.loads(result_file.read_text()) if result_file.is_file() else {}
        return [(t.point_id, done.get(t.point_id) or failed(reason)) for t in group.tasks]


def _run_group_file(group_file: str, result_file: str) -> None:
    import json
    from pathlib import Path

    raw = json.loads(Path(group_file).read_text())
    group = Group(raw["key"], [Task(**t) for t in raw["tasks"]], tuple(raw["verify"]))
    results: dict[str, Any] = {}

    def finished(task: Task, result: dict[str, Any]) -> None:
        results[task.point_id] = result
        Path(result_file).write_text(json.dumps(results, default=str))  # what is done survives a crash

    run_group(group, begin, end, lambda task: None, finished)


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


def run_dask(groups: list[Group], hooks: Hooks, client: Any, timeout: float | None) -> None:
    """Send the groups to a Dask cluster; results stream back to this client, which alone writes."""
    from dask.distributed import as_completed

    futures = as_completed()
    by_key: dict[str, Group] = {}
    for group in groups:
        future = client.submit(execute_isolated, group, timeout, key=f"group-{group.key}", pure=False)
        by_key[future.key] = group
        for task in group.tasks:
            hooks.started(task)
        futures.add(future)
    for future in futures:
        group = by_key.pop(future.key)
        try:
            results = dict(future.result())
        except Exception as exc:  # the Dask worker itself was lost
            results = {t.point_id: failed(f"Dask task failed: {type(exc).__name__}: {exc}") for t in group.tasks}
        for task in group.tasks:
            hooks.finished(task, results[task.point_id])

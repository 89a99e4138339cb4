"""One study process per directory: an advisory ``flock`` the kernel releases when the holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from deepsets_trigger.errors import ToolkitError

LOCK_NAME = ".study.lock"


@contextlib.contextmanager
def study_lock(out: Path) -> Iterator[None]:
    """Hold the lock of the study directory ``out`` for the duration of the block.

    Raises:
        ToolkitError: another live process holds it (its PID is named).
    """
    path = out / LOCK_NAME
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ToolkitError(
                f"--out {str(out)!r} is in use by another study (process {holder}); wait for it to finish, stop it, "
                "or choose another --out."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        except ToolkitError:
            if created:  # bad input writes nothing, not even a lock file
                path.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)  # closing releases the lock; the kernel does the same when the process dies

"""A copy of a file that can be stopped between its steps (a seed kept for the next start)."""

from __future__ import annotations

import errno
import os
from typing import Protocol

__all__ = ["StopFlag", "copy_file"]

# A copy of a store's file goes in steps of this size, so that it can be stopped between two.
_COPY_STEP = 64 * 2**20
# copy_file_range cannot copy between these two files: copy through this process instead.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


class StopFlag(Protocol):
    """Asked between the steps of a long copy whether to stop (a ``threading.Event``)."""

    def is_set(self) -> bool:
        """Whether to stop."""
        ...


def copy_file(source: str, target: str, stop: StopFlag | None) -> None:
    """Copy the file ``source`` to ``target`` in steps, in the kernel where it can; raises
    :class:`InterruptedError` when ``stop`` is set before the last step."""
    in_kernel = hasattr(os, "copy_file_range")
    with open(source, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
        while stop is None or not stop.is_set():
            if in_kernel:
                try:
                    if not os.copy_file_range(src.fileno(), dst.fileno(), _COPY_STEP):
                        return
                    continue
                except OSError as exc:
                    if exc.errno not in _NO_KERNEL_COPY:
                        raise
                    in_kernel = False  # both offsets stay where the last step left them
            block = memoryview(src.read(_COPY_STEP))
            if not block:
                return
            while block:
                block = block[dst.write(block) :]
    raise InterruptedError("stopped before the copy was complete")

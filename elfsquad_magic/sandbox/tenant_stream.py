"""A large tenant's rows made by a child interpreter while this process loads them.

Making the rows is Python on one core; turning them into SQLite rows is Python and SQLite on
another. In one process they take turns (the GIL), so a scale-200 tenant cost the sum of both;
here the child makes the rows of :func:`.seed.stream_tenant` and hands each (set, rows) chunk
over a pipe as it is made, a few chunks ahead, while this process loads the previous ones.

The chunks travel as :mod:`marshal` frames: both ends are the same interpreter, the rows are
plain dicts of str, float, int, bool and None, and marshal writes them about three times
faster than JSON and shares the repeated keys and stamps. The values are the same objects'
values, in the same order (a test compares the hashes).
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import struct
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import BinaryIO

from .seed import in_model_order, stream_tenant

__all__ = ["SeedGeneratorError", "stream_tenant_apart"]

# A frame's length; a zero length ends the stream (anything else ending it is a failure).
_FRAME = struct.Struct("<Q")
# How far the child may get ahead of the reader, in marshal bytes (a chunk of 50,000 lines is
# about 20 MB): enough to go on making quotations while the reader loads the product sets,
# which all come at once (counted in frames instead, the child stopped there for 10 s at
# scale 200).
_AHEAD_BYTES = 320 * 2**20
_CHILD = "from elfsquad_magic.sandbox.tenant_stream import serve_chunks; serve_chunks()"


class SeedGeneratorError(RuntimeError):
    """The child making a tenant's rows stopped before the last of them."""


def stream_tenant_apart(
    scale: int, seed: int, chunk_rows: int = 50_000
) -> Iterator[tuple[str, list[dict]]]:
    """The chunks of ``stream_tenant(scale, seed, chunk_rows)``, made in a child interpreter
    while the caller uses the ones before. Closing the iterator early stops the child;
    a child that stops early raises :class:`SeedGeneratorError` after the chunks it sent.
    When no child can run (none can be started, or it sent nothing: it could not import
    this package, say), the rows are made here, in turns with their use."""
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    # The child imports this package from where the caller did (a checkout, not an install).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    command = [sys.executable, "-c", _CHILD, str(scale), str(seed), str(chunk_rows)]
    # The child's messages go to a file: a pipe nobody reads while frames come could fill.
    messages = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the chunks' generator)
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=messages, env=env
        )
    except OSError:
        messages.close()
        return stream_tenant(scale, seed, chunk_rows)
    except BaseException:
        messages.close()
        raise
    return _chunks_from(proc, messages, lambda: stream_tenant(scale, seed, chunk_rows))


def _chunks_from(
    proc: subprocess.Popen[bytes],
    messages: BinaryIO,
    here: Callable[[], Iterator[tuple[str, list[dict]]]],
) -> Iterator[tuple[str, list[dict]]]:
    """The chunks ``proc`` writes; stops it when closed early, raises when it stopped early
    (the chunks ``here`` makes instead when it stopped before the first)."""
    assert proc.stdout is not None
    complete, sent = False, 0
    reader = _frames(proc.stdout)
    try:
        while True:
            try:
                chunk = next(reader)
            except StopIteration as end:
                complete = end.value
                break
            sent += 1
            yield chunk
    finally:
        if not complete:
            proc.kill()
        proc.stdout.close()
        code = proc.wait()
        messages.seek(0)
        trace = messages.read().decode(errors="replace").strip()
        messages.close()
    if not complete and not sent:
        yield from here()  # nothing came: the same rows, made and loaded in turns
        return
    if not complete:
        last = trace.splitlines()[-1] if trace else "no message"
        raise SeedGeneratorError(
            f"the sandbox's seed generator stopped before the end (exit code {code}: {last}); "
            "the tenant was not loaded: start the sandbox again"
        )


def _frames(stream: BinaryIO) -> Generator[tuple[str, list[dict]], None, bool]:
    """The chunks in ``stream``; returns whether the end frame came (not a cut-off stream)."""
    while True:
        head = stream.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return False
        (size,) = _FRAME.unpack(head)
        if size == 0:
            return True
        body = stream.read(size)
        if len(body) < size:
            return False
        name, rows = marshal.loads(body)
        del body
        # The child leaves this to the reader, which has time while the child makes rows.
        yield name, in_model_order(name, rows)


def serve_chunks() -> None:
    """The child's side: write the chunks of ``stream_tenant(*argv)`` to stdout as frames."""
    scale, seed, chunk_rows = (int(arg) for arg in sys.argv[1:4])
    # The rows hold no cycles for the collector to find: at scale 200 it spent 1.7 s of the
    # child's 37 looking, and the child's peak is the same without it (0.97 GB).
    gc.disable()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # nothing printed by accident can break a frame
    frames = _FrameQueue(_AHEAD_BYTES)
    writer = threading.Thread(target=_write_frames, args=(frames, out), daemon=True)
    writer.start()
    for chunk in stream_tenant(scale, seed, chunk_rows, model_order=False):
        # Made while the writer thread waits for the reader (a write releases the GIL).
        frames.put(marshal.dumps(chunk))
    frames.put(None)
    writer.join()


class _FrameQueue:
    """Frames waiting for the writer, at most ``budget`` bytes of them (or one bigger one)."""

    def __init__(self, budget: int) -> None:
        self._frames: deque[bytes | None] = deque()
        self._budget, self._held = budget, 0
        self._changed = threading.Condition()

    def put(self, frame: bytes | None) -> None:
        size = len(frame or b"")
        with self._changed:
            self._changed.wait_for(lambda: not self._frames or self._held + size <= self._budget)
            self._frames.append(frame)
            self._held += size
            self._changed.notify_all()

    def get(self) -> bytes | None:
        with self._changed:
            self._changed.wait_for(lambda: bool(self._frames))
            frame = self._frames.popleft()
            self._held -= len(frame or b"")
            self._changed.notify_all()
            return frame


def _write_frames(frames: _FrameQueue, out: BinaryIO) -> None:
    try:
        while (body := frames.get()) is not None:
            out.write(_FRAME.pack(len(body)))
            out.write(body)
            del body
        out.write(_FRAME.pack(0))
        out.flush()
    except OSError:
        # The reader is gone (it closed the stream early or died): nothing left to make.
        with contextlib.suppress(OSError):
            out.close()
        os._exit(0)

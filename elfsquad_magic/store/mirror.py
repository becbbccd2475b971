"""The local mirror on disk: one Parquet file per entity set, per API host and client id.

A mirror file is a plain Parquet file (DuckDB, polars and Spark read it as it is) whose footer
also holds what the next sync needs: the key, the Edm types, the service's newest time stamp
(the watermark) and when it was written. Nothing else is kept beside it, so a file is the
whole state of its set, and replacing it (``os.replace``) is the one step that changes the
mirror: a sync killed at any moment leaves the previous file, complete.

Files are readable by the user only (0600, folders 0700). They hold the data the API returned
and never a token or secret. Nothing here talks to the network; see :mod:`.sync`.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import itertools
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..core.odata import ETAG
from ..errors import MirrorError
from ..fetch.arrow_frames import arrow_table_frame
from .folders import make_private_folders, safe_part, tenant_folder

__all__ = [
    "ENV_MIRROR_DIR",
    "MIRROR_FORMAT",
    "MirrorInfo",
    "Mirror",
    "MirrorStream",
    "stored_form",
    "default_mirror_dir",
    "frame_to_arrow",
    "table_frame",
    "json_columns_of",
    "mirror_listing",
    "stamp_text",
]

ENV_MIRROR_DIR = "ELFSQUAD_MIRROR_DIR"
# Raised when the layout of the footer changes; an older file is then rebuilt, not misread.
MIRROR_FORMAT = 1
_FOOTER_KEY = b"elfsquad_magic.mirror"
_SUFFIX = ".parquet"
# A whole file is read with the system allocator, not pyarrow's default pool, which asks the
# kernel for huge pages: where free memory has gone back to a virtual machine's host, that
# made a million-row read twice as slow, mostly in system time, and its peak a fifth higher
# (figures in docs/performance.md).
_READ_POOL = pa.system_memory_pool()
# Another kernel may be syncing the same set (a large first fetch takes minutes).
LOCK_TIMEOUT = 600.0


def default_mirror_dir() -> Path:
    """Where mirrors live unless told: ``$ELFSQUAD_MIRROR_DIR``, else the user cache folder."""
    configured = os.environ.get(ENV_MIRROR_DIR, "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("elfsquad-magic") / "mirror"


@dataclass(frozen=True)
class MirrorInfo:
    """What a mirror file's footer says about its set."""

    entity_set: str
    key: tuple[str, ...]
    edm_types: dict[str, str] = field(repr=False)
    columns: tuple[str, ...] = field(repr=False)
    json_columns: tuple[str, ...] = ()
    watermark: str | None = None  # the newest service stamp seen, as the service wrote it
    synced_at: str | None = None  # when this file was written (local clock, for people only)
    incremental: bool = True  # False: the set has no time stamps and is read in full each time
    page_rows: int | None = None  # rows per page of the service, for the deletion search
    full_requests: int | None = None  # what the last full fetch cost
    rows: int = 0
    path: Path | None = field(default=None, compare=False)
    size: int = field(default=0, compare=False)

    def footer(self) -> bytes:
        """The footer entry: this info as JSON (path and size are the file's own)."""
        data = {
            "format": MIRROR_FORMAT,
            "entity_set": self.entity_set,
            "key": list(self.key),
            "edm_types": self.edm_types,
            "columns": list(self.columns),
            "json_columns": list(self.json_columns),
            "watermark": self.watermark,
            "synced_at": self.synced_at,
            "incremental": self.incremental,
            "page_rows": self.page_rows,
            "full_requests": self.full_requests,
            "rows": self.rows,
        }
        return json.dumps(data).encode()

    @classmethod
    def from_footer(cls, raw: bytes, path: Path, size: int) -> MirrorInfo | None:
        """The info in a footer entry, or ``None`` for another format."""
        data = json.loads(raw)
        if data.get("format") != MIRROR_FORMAT:
            return None
        return cls(
            entity_set=data["entity_set"],
            key=tuple(data["key"]),
            edm_types=dict(data["edm_types"]),
            columns=tuple(data["columns"]),
            json_columns=tuple(data.get("json_columns") or ()),
            watermark=data.get("watermark"),
            synced_at=data.get("synced_at"),
            incremental=bool(data.get("incremental", True)),
            page_rows=data.get("page_rows"),
            full_requests=data.get("full_requests"),
            rows=int(data.get("rows", 0)),
            path=path,
            size=size,
        )


class Mirror:
    """The mirror folder of one tenant: ``<root>/<api host>/<client id>/<Set>.parquet``."""

    def __init__(self, root: str | os.PathLike[str], api_url: str, client_id: str) -> None:
        self.root = Path(root).expanduser()
        self.folder = tenant_folder(self.root, api_url, client_id)

    def __repr__(self) -> str:
        return f"<Mirror {self.folder}>"

    @classmethod
    def locate(
        cls, root: str | os.PathLike[str], api_url: str, client_id: str | None = None
    ) -> Mirror:
        """The mirror of ``client_id`` on this host; without one (offline, not logged in),
        the host's only mirrored client, or a :class:`MirrorError` saying which to name."""
        if client_id:
            return cls(root, api_url, client_id)
        host_folder = cls(root, api_url, "_").folder.parent
        clients = sorted(p.name for p in host_folder.iterdir()) if host_folder.is_dir() else []
        if len(clients) == 1:
            return cls(root, api_url, clients[0])
        where = urlsplit(api_url).netloc or api_url
        if not clients:
            raise MirrorError(
                f"There is no mirror for {where} in {Path(root).expanduser()}.",
                "Sync a set once while online: %elfsquad --sync GET /data/1/<Set>",
            )
        raise MirrorError(
            f"The mirror for {where} holds several clients ({', '.join(clients)}).",
            "Say which: set ELFSQUAD_CLIENT_ID, or log in.",
        )

    # -- names -----------------------------------------------------------------------------

    def path(self, entity_set: str) -> Path:
        """The file of ``entity_set`` (as the service names it)."""
        return self.folder / f"{safe_part(entity_set)}{_SUFFIX}"

    def find(self, name: str) -> str | None:
        """The mirrored set called ``name`` in any casing, or ``None``."""
        wanted = name.lower()
        for info in self.sets():
            if info.entity_set.lower() == wanted:
                return info.entity_set
        return None

    # -- reading ---------------------------------------------------------------------------

    def info(self, entity_set: str) -> MirrorInfo | None:
        """The footer of the set's file (no rows read), or ``None`` when there is none."""
        path = self.path(entity_set)
        try:
            size = path.stat().st_size
            # The file's key-value metadata: a file written batch by batch has the footer
            # entry there only (a whole table's schema metadata lands there too).
            metadata = pq.read_metadata(path).metadata or {}
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException) as exc:
            raise self._unreadable(entity_set, exc) from None
        raw = metadata.get(_FOOTER_KEY)
        return MirrorInfo.from_footer(raw, path, size) if raw else None

    def read_table(self, entity_set: str) -> tuple[pa.Table, MirrorInfo] | None:
        """The set's rows as an Arrow table with its info, or ``None`` when not mirrored."""
        info = self.info(entity_set)
        if info is None:
            return None
        try:
            dataset = pads.dataset(info.path, format="parquet")
            table = dataset.to_table(memory_pool=_READ_POOL)
        except FileNotFoundError:
            return None  # dropped in between
        except (OSError, pa.ArrowException) as exc:
            raise self._unreadable(entity_set, exc) from None
        return table.replace_schema_metadata(None), info

    def read_rows(self, entity_set: str, key: str, keys: pa.Array) -> pa.Table | None:
        """The mirrored rows whose ``key`` is one of ``keys``, read without the rest: the key
        column first, then only the row groups that hold them; ``None`` when not mirrored."""
        info = self.info(entity_set)
        if info is None:
            return None
        try:
            with pq.ParquetFile(info.path) as parquet:
                positions = pc.indices_nonzero(
                    pc.is_in(parquet.read(columns=[key]).column(key), value_set=keys)
                ).to_pylist()
                ends = list(
                    itertools.accumulate(
                        parquet.metadata.row_group(i).num_rows
                        for i in range(parquet.num_row_groups)
                    )
                )
                groups = sorted({bisect.bisect_right(ends, p) for p in positions})
                empty = parquet.schema_arrow.empty_table()
                table = parquet.read_row_groups(groups) if groups else empty
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException) as exc:
            raise self._unreadable(entity_set, exc) from None
        table = table.replace_schema_metadata(None)
        return table.filter(pc.is_in(table.column(key), value_set=keys))

    def read_frame(
        self,
        entity_set: str,
        dtype_backend: str | None = None,
        columns: list[str] | None = None,
    ) -> tuple[pd.DataFrame, MirrorInfo] | None:
        """The set as a DataFrame typed as a full fetch types it, or ``None``."""
        found = self.read_table(entity_set)
        if found is None:
            return None
        table, info = found
        return table_frame(table, info, dtype_backend, columns), info

    def sets(self) -> list[MirrorInfo]:
        """Every mirrored set of this tenant, by name."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob(f"*{_SUFFIX}")):
            info = self.info(path.name[: -len(_SUFFIX)])
            if info is not None:
                found.append(info)
        return sorted(found, key=lambda info: info.entity_set.lower())

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def lock(self, entity_set: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the set's lock: one sync at a time per set, across kernels and processes."""
        from filelock import FileLock, Timeout

        make_private_folders(self.root, self.folder)
        lock = FileLock(str(self.path(entity_set)) + ".lock", timeout=timeout, mode=0o600)
        try:
            lock.acquire()
        except Timeout:
            raise MirrorError(
                f"Another process has been syncing {entity_set} for {timeout:.0f} s.",
                "Wait for it to finish, or stop it, then run this again.",
            ) from None
        try:
            self._remove_leftovers(entity_set)
            yield
        finally:
            lock.release()

    def write(self, table: pa.Table, info: MirrorInfo) -> MirrorInfo:
        """Replace the set's file with ``table`` in one step (call under :meth:`lock`).

        The new file is written and flushed beside the old one, then renamed over it: a
        reader sees the old file or the new one, never a part.
        """
        make_private_folders(self.root, self.folder)
        final = self.path(info.entity_set)
        table = table.replace_schema_metadata({_FOOTER_KEY: info.footer()})
        _replace_file(final, lambda handle: pq.write_table(table, handle, compression="zstd"))
        _sync_folder(self.folder)
        return MirrorInfo(**{**info.__dict__, "path": final, "size": final.stat().st_size})

    def stream(self, entity_set: str) -> MirrorStream:
        """A writer of the set's new file, batch by batch (call under :meth:`lock`)."""
        make_private_folders(self.root, self.folder)
        return MirrorStream(self, entity_set)

    def mark_checked(self, entity_set: str) -> str:
        """Note that the set was found up to date now, without rewriting its file (a sync
        that found no change); returns the time written. Only what the listing shows."""
        now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        checked = json.dumps({"checked_at": now}).encode()
        _replace_file(self._checked_path(entity_set), lambda handle: handle.write(checked))
        return now

    def last_checked(self, info: MirrorInfo) -> str | None:
        """When the set was last found up to date: its file's time, or a later check's."""
        try:
            checked = json.loads(self._checked_path(info.entity_set).read_text())["checked_at"]
        except (OSError, ValueError, KeyError, TypeError):
            return info.synced_at
        if info.synced_at is None or pd.Timestamp(checked) > pd.Timestamp(info.synced_at):
            return str(checked)
        return info.synced_at

    def _checked_path(self, entity_set: str) -> Path:
        return self.path(entity_set).with_suffix(".checked.json")

    def drop(self, entity_set: str) -> bool:
        """Remove the set's file; ``False`` when there was none."""
        name = self.find(entity_set) or entity_set
        with self.lock(name):
            try:
                self.path(name).unlink()
            except FileNotFoundError:
                return False
        # The lock file stays: a process waiting on it would otherwise lock a deleted file.
        self._checked_path(name).unlink(missing_ok=True)
        return True

    def _remove_leftovers(self, entity_set: str) -> None:
        # Written by a sync that was killed before its rename; the lock says none is running.
        for name in (self.path(entity_set).name, self._checked_path(entity_set).name):
            for leftover in self.folder.glob(f".{name}.*.tmp"):
                leftover.unlink(missing_ok=True)

    def _unreadable(self, entity_set: str, exc: BaseException) -> MirrorError:
        return MirrorError(
            f"The mirror file of {entity_set} cannot be read ({type(exc).__name__}).",
            f"Rebuild it: %elfsquad --sync --full GET /data/1/{entity_set} (or drop it with "
            f"%elfsquad_mirror --drop {entity_set}).",
        )


class MirrorStream:
    """A set's new mirror file written as the rows come: each batch of typed rows is stored
    (collections as JSON text, no ETags) and written as row groups of a Parquet file beside
    the mirror's; :meth:`finish` adds the footer and renames it over the old file in one step,
    :meth:`abort` removes it. A sync killed mid-stream leaves the old file and a leftover the
    next lock removes. The first batch fixes the file's columns: should a later one not fit
    them (a property that first turned up late), the stream stops and :meth:`finish` writes
    the whole table instead."""

    def __init__(self, mirror: Mirror, entity_set: str, group_rows: int = 65_536) -> None:
        self.mirror = mirror
        self.final = mirror.path(entity_set)
        self.group_rows = group_rows
        self.json_columns: tuple[str, ...] = ()
        self._writer: pq.ParquetWriter | None = None
        self._handle: Any = None
        self._temporary: Path | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._broken = False

    def write(self, batch: pa.Table) -> None:
        """One more batch of typed rows, in order."""
        if self._broken:
            return
        if ETAG in batch.column_names:
            batch = batch.drop_columns([ETAG])
        stored, json_columns = stored_form(batch)
        if self._writer is None:
            self.json_columns = json_columns
            name = f".{self.final.name}.{secrets.token_hex(4)}.tmp"
            self._temporary = self.final.with_name(name)
            os.close(os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            # Arrow's own file: the writes need no GIL while the fetch goes on.
            self._handle = pa.OSFile(str(self._temporary), "wb")
            self._writer = pq.ParquetWriter(self._handle, stored.schema, compression="zstd")
        elif stored.schema != self._writer.schema or json_columns != self.json_columns:
            self._broken = True  # finish() writes the whole table
            self.abort()
            return
        self._pending.append(stored)
        self._pending_rows += stored.num_rows
        if self._pending_rows >= self.group_rows:
            self._write_pending()

    def _write_pending(self) -> None:
        if self._pending and self._writer is not None:
            table = pa.concat_tables(self._pending)
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._pending, self._pending_rows = [], 0

    def reset(self) -> None:
        """Forget what was written (the fetch starts over)."""
        self.abort()
        self._broken = False

    def finish(self, table: pa.Table, info: MirrorInfo) -> MirrorInfo:
        """Replace the set's file with what was written, ``table`` (the whole set as
        stored) being the same rows; or write ``table`` itself when the stream stopped."""
        if self._writer is None or table.schema != self._writer.schema:
            self.abort()
            return self.mirror.write(table, info)
        self._write_pending()
        writer, handle, temporary = self._writer, self._handle, self._temporary
        assert handle is not None and temporary is not None
        try:
            writer.add_key_value_metadata({_FOOTER_KEY: info.footer()})
            writer.close()
            handle.close()
            descriptor = os.open(temporary, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, self.final)
        except BaseException:
            self.abort()
            raise
        self._writer = self._handle = self._temporary = None
        _sync_folder(self.mirror.folder)
        size = self.final.stat().st_size
        return MirrorInfo(**{**info.__dict__, "path": self.final, "size": size})

    def abort(self) -> None:
        """Remove the new file (the old one stays)."""
        writer, handle, temporary = self._writer, self._handle, self._temporary
        self._writer = self._handle = self._temporary = None
        self._pending, self._pending_rows = [], 0
        for closing in (writer, handle):
            if closing is not None:
                with contextlib.suppress(Exception):
                    closing.close()
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def stored_form(table: pa.Table) -> tuple[pa.Table, tuple[str, ...]]:
    """``table`` as a mirror file holds it: list and struct columns (collections, complex
    values) as JSON text; and the names of those columns."""
    json_columns = tuple(
        field.name
        for field in table.schema
        if pa.types.is_nested(field.type) and not pa.types.is_dictionary(field.type)
    )
    if not json_columns:
        return table.replace_schema_metadata(None), ()
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if name in json_columns:
            texts = [None if v is None else orjson.dumps(v).decode() for v in column.to_pylist()]
            column = pa.array(texts, type=pa.large_string())
        columns[name] = column
    return pa.table(columns), json_columns


def mirror_listing(mirror: Mirror) -> pd.DataFrame:
    """The mirrored sets as a frame: rows, last sync, watermark, size on disk, file."""
    rows = [
        {
            "entity_set": info.entity_set,
            "rows": info.rows,
            "last_sync": pd.Timestamp(mirror.last_checked(info) or pd.NaT),
            "watermark": pd.Timestamp(info.watermark) if info.watermark else pd.NaT,
            "incremental": info.incremental,
            "size_mb": round(info.size / 1e6, 3),
            "file": str(info.path),
        }
        for info in mirror.sets()
    ]
    columns = ["entity_set", "rows", "last_sync", "watermark", "incremental", "size_mb", "file"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["elfsquad"] = {"mirror": str(mirror.folder)}
    return frame


def _replace_file(final: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a new file beside ``final`` (0600), flush it to disk and rename it over
    ``final``: whoever reads sees the old file or the new one, never a part."""
    temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the system allows it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def json_columns_of(frame: pd.DataFrame) -> tuple[str, ...]:
    """Object columns holding lists or dicts (collections, complex values): stored as JSON."""
    found = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object:
            continue
        values = column.dropna()
        if any(isinstance(value, (list, dict, tuple)) for value in values.values):
            found.append(name)
    return tuple(found)


def frame_to_arrow(frame: pd.DataFrame, json_columns: tuple[str, ...] = ()) -> pa.Table:
    """A typed frame as the Arrow table a mirror file holds: JSON text for ``json_columns``,
    and the plain Arrow type of every other column (Int64 -> int64 with nulls...)."""
    arrays = {}
    for name in frame.columns:
        column = frame[name]
        if name in json_columns:
            arrays[name] = pa.array(
                [None if _missing(v) else orjson.dumps(v).decode() for v in column.values],
                type=pa.large_string(),
            )
            continue
        if column.dtype == object:
            values = [None if _missing(v) else v for v in column.values]
            arrays[name] = pa.array(values, from_pandas=True)
        else:
            arrays[name] = pa.Array.from_pandas(column)
        if pa.types.is_string(arrays[name].type):
            arrays[name] = arrays[name].cast(pa.large_string())
    return pa.table(arrays) if arrays else pa.table({})


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False  # a list or dict


def table_frame(
    table: pa.Table,
    info: MirrorInfo,
    dtype_backend: str | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """A mirror table as a DataFrame with the dtypes a full fetch of the same rows has."""
    if columns is not None:
        table = table.select(columns)
    decoded: Mapping[str, Any] = {
        name: [None if v is None else orjson.loads(v) for v in table.column(name).to_pylist()]
        for name in info.json_columns
        if name in table.column_names
    }
    return arrow_table_frame(table, info.edm_types, dtype_backend, decoded)


def stamp_text(moment: dt.datetime | pd.Timestamp) -> str:
    """A UTC time as the service writes it: seven fractional digits and ``Z``."""
    moment = pd.Timestamp(moment)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    fraction = moment.microsecond * 10 + moment.nanosecond // 100
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{fraction:07d}Z"

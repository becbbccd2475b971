"""A mirror's rows as a result: the stored table (collections as JSON text) in each output
type, and a set's file read once, straight into the output asked for.

The result of a mirror is the result a full fetch of the same rows gives, whatever the output
type: a pandas frame typed as a fetch types it, a ``pyarrow.Table`` with the fetch's Arrow
types (collections as lists again), a polars frame read by polars itself.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MirrorError, UsageError
from ..fetch.tables import arrow_type, objects_array, to_output
from .mirror import Mirror, MirrorInfo, table_frame

__all__ = [
    "FileReadAhead",
    "chosen_columns",
    "count_changes",
    "decoded_table",
    "in_key_order",
    "merge_changed",
    "picked_columns",
    "read_result",
    "result_of",
]


def chosen_columns(available: list[str], columns: list[str] | None, name: str) -> list[str]:
    """The real names of ``columns`` (any casing) among ``available``; every column when
    ``None``. A :class:`UsageError` names one the set does not have."""
    if columns is None:
        return list(available)
    lookup = {column.lower(): column for column in available}
    chosen = []
    for column in columns:
        real = lookup.get(column.strip().lower())
        if real is None:
            raise UsageError(
                f"{name} has no property {column.strip()!r}.",
                f"See its properties: %elfsquad_describe {name}",
            )
        chosen.append(real)
    return chosen


def picked_columns(info: MirrorInfo, columns: list[str] | None) -> list[str] | None:
    """The real names of ``columns`` (any casing) in the mirror of ``info``; ``None`` (every
    column) when none were asked for."""
    if not columns:
        return None
    return chosen_columns(list(info.columns), columns, info.entity_set)


def decoded_table(table: pa.Table, info: MirrorInfo) -> pa.Table:
    """The stored ``table`` with its JSON text columns as lists again, typed as a fetch types
    the collection (``Collection(Edm.String)``: a list of strings)."""
    for name in info.json_columns:
        if name not in table.column_names:
            continue
        values = [None if v is None else orjson.loads(v) for v in table.column(name).to_pylist()]
        array = objects_array(values, arrow_type(info.edm_types.get(name)))
        table = table.set_column(table.column_names.index(name), name, array)
    return table


def result_of(
    table: pa.Table,
    info: MirrorInfo,
    output: str,
    dtype_backend: str | None = None,
    columns: list[str] | None = None,
) -> Any:
    """A stored table of the set (``columns`` of it, by their real names) as ``output``."""
    if columns is not None:
        table = table.select(columns)
    if output == "pandas":
        return table_frame(table, info, dtype_backend)
    return to_output(decoded_table(table, info), output)


def read_result(
    mirror: Mirror,
    info: MirrorInfo,
    output: str,
    dtype_backend: str | None = None,
    columns: list[str] | None = None,
) -> Any:
    """The set's file read once into ``output`` (``columns``: their real names): polars
    reads it itself, the others through one Arrow table."""
    if output == "polars" and info.path is not None:
        from ..core.settings import require_polars

        polars = require_polars()
        wanted = columns if columns is not None else list(info.columns)
        try:
            frame = polars.read_parquet(info.path, columns=wanted)
        except FileNotFoundError:
            frame = None
        except Exception as exc:  # any polars error: the file is unreadable
            raise MirrorError(
                f"The mirror file of {info.entity_set} cannot be read ({type(exc).__name__}).",
                f"Rebuild it: %elfsquad --sync --full GET /data/1/{info.entity_set}",
            ) from None
        if frame is not None:
            json_columns = [name for name in info.json_columns if name in wanted]
            if not json_columns:
                return frame
            lists = decoded_table(pa.table({n: frame[n].to_arrow() for n in json_columns}), info)
            return frame.with_columns(
                [polars.from_arrow(lists.column(n)).alias(n) for n in json_columns]
            )
    found = mirror.read_table(info.entity_set)
    if found is None:
        raise MirrorError(
            f"The mirror of {info.entity_set} was dropped while it was read.",
            "Run the sync again.",
        )
    table, current = found
    return result_of(table, current, output, dtype_backend, columns)


def count_changes(old: pa.Table, changed: pa.Table, key: str) -> tuple[int, int]:
    """How many read rows differ from the mirror's copy, and how many are new."""
    if changed.num_rows == 0:
        return 0, 0
    known = pc.is_in(changed.column(key), old.column(key))
    new = changed.num_rows - pc.sum(known).as_py() if changed.num_rows else 0
    again = in_key_order(changed.filter(known), key)
    before = in_key_order(old.filter(pc.is_in(old.column(key), again.column(key))), key)
    differ = sum(
        1
        for a, b in zip(again.to_pylist(), before.to_pylist(), strict=True)
        if a != b  # None for nulls on both sides: NaN became null on the way in
    )
    return differ, int(new)


def merge_changed(old: pa.Table, changed: pa.Table, key: str) -> pa.Table:
    """``old`` with the rows of ``changed`` put in (by key), columns as ``old`` has them."""
    if changed.num_rows == 0:
        return old
    kept = old.filter(pc.invert(pc.is_in(old.column(key), changed.column(key))))
    changed = changed.select(kept.column_names)
    merged = pa.concat_tables([kept, changed], promote_options="permissive")
    return merged.combine_chunks()


def in_key_order(table: pa.Table, key: str) -> pa.Table:
    """``table`` sorted by its key."""
    return table.sort_by([(key, "ascending")]) if table.num_rows > 1 else table


class FileReadAhead:
    """The set's file, read while the service is asked: most resyncs find nothing new, and
    then the result is that file. polars reads it itself; the others read it once as Arrow,
    which a merge of changed rows uses as the old rows too."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        mirror: Mirror,
        previous: MirrorInfo,
        output: str,
        dtype_backend: str | None,
        columns: list[str] | None,
    ) -> None:
        self.output = output
        self.dtype_backend = dtype_backend
        self.columns = columns
        self.previous = previous
        if output == "polars":
            picked = picked_columns(previous, columns)
            self.future = pool.submit(read_result, mirror, previous, output, dtype_backend, picked)
        else:
            self.future = pool.submit(mirror.read_table, previous.entity_set)

    def old_rows(self) -> tuple[pa.Table, MirrorInfo] | None:
        """The file as an Arrow table with its info (``None``: read by polars, not Arrow)."""
        return None if self.output == "polars" else self.future.result()

    def unchanged(self, changed: pa.Table, key: str) -> bool | None:
        """Whether every row of ``changed`` (as stored) is in the file as read, just as it is;
        ``None`` when this read cannot tell (some columns only: read those rows alone)."""
        if self.output != "polars":
            found = self.old_rows()
            if found is None:
                return None
            table = found[0]
            rows = table.filter(pc.is_in(table.column(key), value_set=changed.column(key)))
            return count_changes(rows, changed, key) == (0, 0)
        if self.columns is not None:
            return None
        import polars

        frame = self.future.result()
        wanted = polars.col(key).is_in(changed.column(key).to_pylist())
        # Compared as results: the frame's collections are lists again, so are these.
        rows = frame.filter(wanted).to_arrow()
        return count_changes(rows, decoded_table(changed, self.previous), key) == (0, 0)

    def result(self) -> Any:
        """The file as read, as the output asked for."""
        if self.output == "polars":
            return self.future.result()
        found = self.old_rows()
        if found is None:
            name = self.previous.entity_set
            raise MirrorError(
                f"The mirror of {name} was dropped while it was read.", "Run the sync again."
            )
        table, info = found
        picked = picked_columns(info, self.columns)
        return result_of(table, info, self.output, self.dtype_backend, picked)

"""What is kept on disk: the local mirror, its sync and SQL, the write journal, journaled
writes and their undo. Imports :mod:`..core` and :mod:`..fetch` below it."""

__all__: list[str] = []

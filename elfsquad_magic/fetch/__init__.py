"""From a request value to a result: the engine, pages, the Arrow reader, paging, concurrent
windows, the pace, frames and progress. Imports only :mod:`..core` below it."""

__all__: list[str] = []

"""The progress bar of a fetch in a notebook: shown through a display handle and blanked when
closed, so a saved notebook keeps no half-finished bar."""

from __future__ import annotations

from typing import Any

from ..fetch.progress import bar_options, terminal_bar

__all__ = ["notebook_bar"]


def notebook_bar(total: int | None, initial: int) -> Any:
    """A tqdm notebook bar whose output is emptied on close; the terminal bar outside a
    notebook (terminal IPython)."""
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if not issubclass(tqdm, notebook_tqdm):
        return terminal_bar(total, initial)
    # Otherwise a saved notebook keeps the bar's first state ("9% 500/5767") as its plain-text
    # fallback, which reads as an unfinished fetch where widgets don't render.
    from IPython.display import display

    bar = tqdm(display=False, leave=False, **bar_options(total, initial))
    handle = display(bar.container, display_id=True)
    close = bar.close

    def close_and_blank() -> None:
        close()
        if handle is not None:
            # Empty in every form: no "<IPython.core.display.HTML object>" text is left behind.
            handle.update({"text/plain": "", "text/html": ""}, raw=True)

    bar.close = close_and_blank
    return bar

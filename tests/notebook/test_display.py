"""Results read at a glance in a notebook: guids on one line, time stamps to the second; the
frame's values and the user's pandas options untouched."""

from __future__ import annotations

import re

import pandas as pd
from IPython.utils.capture import capture_output

NINE_DECIMALS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{9}")


def html_of(shell, frame: pd.DataFrame) -> str:
    """The HTML a notebook frontend would get (the terminal test shell has it switched off)."""
    formatter = shell.display_formatter.formatters["text/html"]
    enabled, formatter.enabled = formatter.enabled, True
    try:
        data, _ = shell.display_formatter.format(frame)
    finally:
        formatter.enabled = enabled
    return data["text/html"]


def test_lines_show_guids_unwrapped_and_stamps_to_the_second(ip, sandbox_env) -> None:
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    options_before = {
        name: pd.get_option(name)
        for name in ("display.max_rows", "display.max_columns", "display.width")
    }
    lines = ip.run_line_magic("elfsquad", "GET /data/1/QuotationLines?$top=8")
    kept = lines.copy(deep=True)
    html = html_of(ip, lines)
    assert not NINE_DECIMALS.search(html)
    stamp = lines["createdDate"].iloc[0]
    assert stamp.strftime("%Y-%m-%d %H:%M:%S") + "Z" in html
    position = list(lines.columns).index("id")
    assert f"td:nth-child({position + 2})" in html and "white-space: nowrap" in html
    pd.testing.assert_frame_equal(lines, kept)  # the values are as they came
    assert lines["createdDate"].dtype == kept["createdDate"].dtype
    assert {name: pd.get_option(name) for name in options_before} == options_before


def test_other_frames_show_as_pandas_shows_them(ip) -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2025-01-01T10:00:00.123456789Z"])})
    assert html_of(ip, frame) == frame._repr_html_()
    assert NINE_DECIMALS.search(html_of(ip, frame))


def test_unloading_restores_pandas_display(ip) -> None:
    frame = pd.DataFrame({"a": [1]})
    frame.attrs["elfsquad"] = {}
    assert "elfsquad-" in html_of(ip, frame)
    ip.run_line_magic("unload_ext", "elfsquad_magic")
    try:
        assert html_of(ip, frame) == frame._repr_html_()
    finally:
        ip.run_line_magic("load_ext", "elfsquad_magic")

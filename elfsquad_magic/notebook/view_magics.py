"""``%elfsquad_view``: the CPQ views (``client.cpq``) from a magic line.

The options of each view, its queries, steps, tree and chart are shown by ``view_display``;
this module is the magic's line and the client it runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..core.settings import OUTPUTS
from .arguments import check_out_name, connection_argument, parse_line
from .output import keep_result

__all__ = ["ViewMagics"]


@magics_class
class ViewMagics(Magics):
    """``%elfsquad_view`` over the client the kernel's session gives."""

    def __init__(self, shell: Any, mirror_client: Callable[[Any], Any]) -> None:
        super().__init__(shell)
        # The client of the line's connection; offline and not logged in, one that reads the
        # mirror (the magics' own rule, shared).
        self.mirror_client = mirror_client

    @magic_arguments()
    @argument("view", nargs="?", metavar="NAME", help="The view: %%elfsquad_view --list.")
    @argument(
        "target",
        nargs="*",
        metavar="ARG",
        help="What the view is about: a model's name, a quotation's number, a configuration's "
        "code, Quotations or CrmAccounts, a feature (quotes optional).",
    )
    @argument("--list", action="store_true", help="List the views and their options.")
    @argument("-o", "--out", metavar="NAME", help="Also store the result in the variable NAME.")
    @argument("--offline", action="store_true", help="Read the mirror as it is (no network).")
    @argument(
        "--show-sql",
        dest="show_sql",
        action="store_true",
        help="Print the DuckDB queries as they ran (for %%%%elfsquad_sql).",
    )
    @argument("--explain", action="store_true", help="Print every step and its cost.")
    @argument(
        "--all-revisions",
        dest="all_revisions",
        action="store_true",
        help="Every revision of a quotation, not only the latest.",
    )
    @argument("--currency", metavar="ISO", help="quotations: totals converted to ISO too.")
    @argument("--language", metavar="ISO", help="Texts in this language (features, fields).")
    @argument(
        "--constraints",
        action="store_true",
        help="model: its constraint edges, one per row, instead of its nodes.",
    )
    @argument("--no-tree", dest="no_tree", action="store_true", help="model: draw no tree.")
    @argument(
        "--chart",
        nargs="?",
        const="count",
        choices=("count", "value"),
        help="quotations: draw the pipeline by status and month (count, or value).",
    )
    @argument("--quotation", metavar="NUMBER", help="bom: the bills of a quotation's groups.")
    @argument(
        "--where",
        metavar="SQL",
        help="quotation_lines: a DuckDB condition on its columns, in quotes.",
    )
    @argument("--dealer", metavar="NAME", help="dealer_prices: one dealer's prices.")
    @argument(
        "--output",
        choices=OUTPUTS,
        metavar="TYPE",
        help="The result as pandas, polars or arrow (default: %%config ElfsquadMagic.output).",
    )
    @connection_argument
    @line_magic
    def elfsquad_view(self, line: str = "") -> Any:
        """A CPQ view as a DataFrame: model, features, quotations, quotation_lines,
        custom_fields, bom, dealer_prices (%elfsquad_view --list describes them).

        Built from the local mirror: each set the view reads is synced first (only what
        changed is read), unless --offline. --show-sql prints the DuckDB queries as they ran,
        --explain every step. A model also shows as a collapsible tree; quotations --chart
        draws the pipeline. Needs DuckDB: pip install 'elfsquad-magic[sql]'.
        """
        from .view_display import run_view

        args = parse_line(self.elfsquad_view, line)
        check_out_name(args.out, "%elfsquad_view quotations -o pipeline")
        if args.list or not args.view:
            from ..cpq.catalog import views_frame

            return views_frame()
        client = self.mirror_client(args)
        return keep_result(self.shell.user_ns, args.out, run_view(client.cpq, args))

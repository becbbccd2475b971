"""The notebook layer: the magics, their settings, the cell parser, completion, listings, the
login form and flow, and the kernel's session. The only layer that imports IPython."""

__all__: list[str] = []

"""The CPQ views: the questions Elfsquad analysts ask (a model's tree, features with their
properties, the pipeline, margins, custom fields, a bill of materials, dealer prices), each
answered from the local mirror in one call. Imports :mod:`..store` and the layers below it."""

__all__: list[str] = []

"""The vocabulary and the values every layer shares: OData names, the request value, literals,
the schema, the token, and authenticated HTTP to the API host. Imports nothing above it."""

__all__: list[str] = []

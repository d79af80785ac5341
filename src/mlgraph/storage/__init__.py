"""Storage: SQL tables, the graph declaration, batch/page queries and the object store.

Imports neither strawberry nor starlette.
"""

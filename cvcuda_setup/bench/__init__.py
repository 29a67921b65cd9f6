"""Benchmarks: the zero-copy pipeline, the allocators, and what a recipe costs to build.

Modules (each with one job; see docs/benchmarks.md for the method and the JSON shapes):

- ``common``: ``--sizes`` parsing, the GPU gate (``NoGpuError`` without a device), ``BenchError``
- ``tool``: builds ``native/bench`` (``cvcuda-zerocopy-bench``) against a prefix into the cache and runs it
- ``pipeline``: validation of the tool's pipeline JSON, speed-ups, the issue's targets, the tables
- ``alloc``: the same for the allocation benchmark (pooled vs unpooled target)
- ``plot``: the pipeline plot (matplotlib, optional)
- ``build``: configure a recipe for real and count its ninja commands; cold and warm build times
"""

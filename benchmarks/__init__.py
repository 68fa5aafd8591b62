"""diota's benchmark harness: the same small app for every framework, timed
in-process and over the wire. See ``benchmarks/README.md``."""

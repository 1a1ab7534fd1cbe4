"""The `placement` command line: generate, solve, explain, schema."""

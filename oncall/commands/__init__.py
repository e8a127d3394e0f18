"""Sub-commands of the `oncall` command line, one module per domain."""

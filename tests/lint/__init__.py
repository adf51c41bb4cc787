"""The migration linter: each rule triggered and not, ignores, the command line."""

"""The command-line layer: one module per command or group, each only parsing options, calling one
logic function and printing its result; `ci.cli` registers them all and maps errors to exit codes."""

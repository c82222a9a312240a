"""One module per command group; importing them registers them on `ci.cli.cli`."""

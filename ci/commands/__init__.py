"""One module per command group; importing them registers them on `ci.cli.cli`."""
from ci.commands import (
    build,  # noqa: F401
    deploy,  # noqa: F401
    gate,  # noqa: F401
    gate_latency,  # noqa: F401
    gate_signature,  # noqa: F401
    loadtest,  # noqa: F401
    registry,  # noqa: F401
)

"""One module per command group; importing them registers them on `ci.cli.cli`."""
from ci.commands import build  # noqa: F401
from ci.commands import gate  # noqa: F401
from ci.commands import gate_latency  # noqa: F401
from ci.commands import gate_signature  # noqa: F401
from ci.commands import loadtest  # noqa: F401
from ci.commands import registry  # noqa: F401

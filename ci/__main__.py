"""`python -m ci`: the pipeline commands (see `ci.cli`)."""
from ci.cli import main

raise SystemExit(main())

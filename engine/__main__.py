"""``python -m engine``: the operator's command line."""
from engine.cli import main

raise SystemExit(main())

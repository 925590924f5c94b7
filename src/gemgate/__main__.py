"""`python -m gemgate`: the same as the `gemgate` command."""

from gemgate.cli import main

raise SystemExit(main())

"""`python -m services.cli ...` runs the `placement` command."""

from services.cli.main import main

raise SystemExit(main())

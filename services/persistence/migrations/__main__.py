from services.persistence.migrations import main

raise SystemExit(main())

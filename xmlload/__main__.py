from xmlload.cli import main

raise SystemExit(main())

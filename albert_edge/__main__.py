"""`python -m albert_edge`: an entry shim for the composed `albert-edge` command, which lives downstream in
`albert_edge_export.commands` (the library modules of this package never import the export)."""

import sys

from albert_edge_export.commands import main

sys.exit(main())

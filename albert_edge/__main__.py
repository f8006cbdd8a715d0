"""`python -m albert_edge`: the training side's subcommands (train, pretrain, eval), as `torchrun -m albert_edge
pretrain` launches them. The composed `albert-edge` command, with export, lives downstream in
`albert_edge_export.commands` (`python -m albert_edge_export`): this package never imports the export."""

import sys

from .cli import main

sys.exit(main())

"""``python -m mlgraph`` is the ``mlgraph`` command."""

from mlgraph.cli import main

main()

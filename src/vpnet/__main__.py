"""``python -m vpnet``: the command line, for when the ``vpnet`` script is not on the PATH."""

from vpnet.cli import main

main()

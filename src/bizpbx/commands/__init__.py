"""One module per `bizpbx` subcommand.

Each module defines ``register(subparsers)``, which adds its parser and sets
``handler`` to a function taking the parsed arguments and returning the exit
status. The CLI discovers the modules here, so a new command is one new file;
modules whose names begin with `_` hold what the commands share.
"""

"""The `cappuccino` command line. Each subcommand lives in its own module and imports its
heavy dependencies (torch, optuna, broker SDKs) only inside its handler."""

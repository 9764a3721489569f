"""`python -m dayflow.cli ...`: the `dayflow` command without its console script."""

from dayflow.cli import main

main()

"""`python -m dayflow.cli`: the same command as `dayflow`."""

from dayflow.cli import main

main()

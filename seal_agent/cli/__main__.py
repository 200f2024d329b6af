"""`python -m seal_agent.cli ...`: the same as the `seal` command."""

from seal_agent.cli import main

main()

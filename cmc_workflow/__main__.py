"""``python -m cmc_workflow``: the same command line as ``cmc-workflow``."""

from cmc_workflow.cli import main

main(prog_name="cmc-workflow")

from pm_core.cli import main

main()

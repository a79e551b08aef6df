"""Entry point of the evaluators package; evaluators register here as they are added."""

from pm_core.hookspecs import hookimpl


@hookimpl
def pm_register_evaluators(register) -> None:
    """Register no evaluators yet: the package only reserves its entry point."""

"""Entry point of the classifiers package; classifiers register here as they are added."""

from pm_core.hookspecs import hookimpl


@hookimpl
def pm_register_classifiers(register) -> None:
    """Register no classifiers yet: the package only reserves its entry point."""

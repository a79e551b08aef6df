"""Entry point of the datasets package."""

from pm_core.hookspecs import hookimpl


@hookimpl
def pm_register_datasets(register) -> None:
    pass

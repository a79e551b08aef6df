"""Classifiers for pm: `linear`, `xgboost`, `dann` and `prototype`, registered through `plugin.py`.

Import a class from its module (`pm_plugins_classifiers.linear`, ...), and restore a saved one with
`pm_plugins_classifiers.io.load_classifier`. This module imports nothing, so loading the plugin stays cheap.
"""

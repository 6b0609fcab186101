"""Scripts that run with a release's own python, never imported by stacktender.

:func:`stacktender.upgrade.releases.run_helper` executes them by path inside a release's
virtualenv; they use the standard library and that release's packages only. This file
makes the directory a package so the scripts ship in the wheel.
"""

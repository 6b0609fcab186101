"""The ``stacktender`` command line: thin click commands over the library.

Each command parses options, calls one library function and renders the result.
Command modules are imported only when their command runs, to keep start-up light.
"""

"""LienLac's benchmarks: ``python -m bench <name>`` or ``python -m bench all`` (issue 15).

Each benchmark measures its baseline in the same run (the machines are shared and noisy),
prints the ratio and the absolute figures, and appends one row to ``bench/README.md``.
``--smoke`` runs a few seconds' worth, checks nothing and writes nothing: the test suite runs
it so that the suite cannot rot.
"""

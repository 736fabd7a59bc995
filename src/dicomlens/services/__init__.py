"""Use cases: create an upload, process an uploaded image, read a job's results.

Services depend on the ports, the domain and the analysis pipeline only; handlers (AWS or
the local runtime) call them, :mod:`dicomlens.bootstrap` builds them.
"""

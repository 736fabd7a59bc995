"""Adapters: implementations of the ports in :mod:`dicomlens.ports`."""

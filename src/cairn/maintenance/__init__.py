"""Keeping a store healthy after a year of use: garbage collection of deleted runs and
experiments (gc.py), retention policies (retention.py), storage accounting (storage.py)
and the checks of `cairn doctor` (doctor.py).

It sits above the stores and the artifact repositories, since collecting a run removes
both its rows and its files, and below the tracking client and the server, which offer it.
"""

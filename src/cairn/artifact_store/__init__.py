"""Artifact repositories: where a run's files live (a local folder, S3, or a tracking server's
proxy), chosen by URI scheme through the `cairn.artifact_repository` entry points.

Every path goes through `cairn.artifact_paths` first; uploads and downloads stream.
"""

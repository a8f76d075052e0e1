"""Moving whole stores in and out of Cairn: `cairn import mlflow|tensorboard` and
`cairn export mlflow`.

A `Source` reads a foreign (or Cairn) store as Cairn entities, streaming metric histories in
chunks; a `Target` writes them with their identity (run ids, experiment ids where free,
logged-model ids, version numbers, times). `Copier` walks a source into a target, skips
what is there already, copies artifacts with checksums and counts everything in a
`FidelityReport`.
"""

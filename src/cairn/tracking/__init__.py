"""Client, fluent API and the hot-path batcher."""

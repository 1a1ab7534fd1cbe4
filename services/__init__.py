"""Services around the matching engine: the CLI, the synthetic generator, and (later) the apps."""

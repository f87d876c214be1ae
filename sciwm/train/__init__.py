"""Training the emulator: window datasets, presets, the optax loop with EMA and orbax checkpoints."""

"""Exceptions that the command line turns into a one-line message and a non-zero exit."""


class SciwmError(Exception):
    """Base class for user-facing errors (bad input, failed runs)."""


class InputError(SciwmError, ValueError):
    """Bad user input: unknown system, malformed protocol or file, invalid set-point."""


class SimulationError(SciwmError, RuntimeError):
    """A run failed: NaN energies, exploding coordinates, engine failure."""

"""Checks of the constructor arguments of the Keras layers and models.

The layers validate their own arguments (they carry their own defaults and
do not depend on `mpikeras.config`); errors are `ConfigError`s naming the
argument, as the configuration's are.
"""

from __future__ import annotations

from numbers import Integral, Real

from mpikeras.errors import ConfigError


def positive_int(name: str, value) -> int:
    """`value` as an int, or `ConfigError` if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ConfigError(name, f"expected a positive integer, received {name}={value!r}")
    return int(value)


def positive_ints(name: str, values, count: int | None = None) -> tuple[int, ...]:
    """A non-empty tuple of positive ints (of length `count` if given), or `ConfigError`."""
    try:
        values = tuple(values) if not isinstance(values, str) else (values,)
    except TypeError:  # a single number
        values = (values,)
    if not values or any(
        isinstance(v, bool) or not isinstance(v, Integral) or v < 1 for v in values
    ):
        raise ConfigError(
            name, f"expected a non-empty list of positive integers, received {name}={values!r}"
        )
    values = tuple(int(v) for v in values)  # NumPy integers become JSON-safe ints
    if count is not None and len(values) != count:
        raise ConfigError(
            name,
            f"expected one entry per convolution ({count}), received {len(values)}: "
            f"{name}={list(values)}",
        )
    return values


def probability(name: str, value) -> float:
    """`value` as a float in [0, 1], or `ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value <= 1.0:
        raise ConfigError(name, f"expected a probability in [0, 1], received {name}={value!r}")
    return float(value)


def ordered_range(name: str, values) -> tuple[float, float]:
    """`(low, high)` as floats with `low <= high`, or `ConfigError`."""
    try:
        low, high = values
    except (TypeError, ValueError):
        raise ConfigError(name, f"expected [low, high], received {name}={values!r}") from None
    if any(isinstance(v, bool) or not isinstance(v, Real) for v in (low, high)) or low > high:
        raise ConfigError(
            name, f"expected [low, high] numbers with low <= high, received {name}={values!r}"
        )
    return float(low), float(high)

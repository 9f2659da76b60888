"""Optional dependencies."""

from __future__ import annotations

import functools


@functools.cache
def tensorflow_available() -> bool:
    """True when TensorFlow can be imported (tf.data, TensorBoard, SavedModel)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def tensorboard_available() -> bool:
    """True when Keras' TensorBoard callback can write (TensorFlow and TensorBoard)."""
    if not tensorflow_available():
        return False
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True

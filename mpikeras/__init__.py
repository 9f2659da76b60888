"""mpikeras: contrastive learning for Magnetic Particle Imaging with Keras 3.

The package follows what an MPI researcher works with:

- `mpikeras.io`: MDF v2 system-matrix and measurement files.
- `mpikeras.simulation`: a physics-based simulator of the OpenMPIData scanner.
- `mpikeras.preprocessing`: band-pass, normalisation, grid subsampling.
- `mpikeras.data`: augmentations and input pipelines (tf.data or Keras PyDataset).
- `mpikeras.models`, `mpikeras.losses`: encoder, SimCLR model, heads, NT-Xent.
- `mpikeras.training`: run directories, resumable training.
- `mpikeras.reconstruction`: classic Kaczmarz reconstruction.
- `mpikeras.evaluation`: the paper's protocol, metrics, figures and report.
- `mpikeras.export`: TensorFlow SavedModel export for deployment.

Submodules are imported on use, so `import mpikeras` does not import Keras.
"""

__version__ = "0.1.0"

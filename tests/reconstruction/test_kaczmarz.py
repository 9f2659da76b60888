import numpy as np
import pytest

from mpikeras.errors import PreprocessingError
from mpikeras.reconstruction.kaczmarz import effective_lambda, kaczmarz


def _complex_problem(seed, rows, voxels, frames=None):
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, voxels)) + 1j * rng.standard_normal((rows, voxels))
    shape = (rows,) if frames is None else (rows, frames)
    u = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return matrix, u


def _real_split(matrix, u):
    return np.concatenate([matrix.real, matrix.imag]), np.concatenate([u.real, u.imag])


def _reference_sweeps(rows, u, lam_eff, iterations, enforce_real, enforce_positive):
    """The update of mpi-facts section 3 written out row by row."""
    x = np.zeros(rows.shape[1], dtype=rows.dtype)
    v = np.zeros(rows.shape[0], dtype=rows.dtype)
    sqrt_lam = np.sqrt(lam_eff)
    for _ in range(iterations):
        for i, s in enumerate(rows):
            alpha = (u[i] - s @ x - sqrt_lam * v[i]) / (np.vdot(s, s).real + lam_eff)
            x = x + alpha * np.conj(s)
            v[i] += alpha * sqrt_lam
        if enforce_real:
            x = x.real.astype(rows.dtype)
        if enforce_positive:
            x = np.where(x.real < 0, 0, x)
    return x


@pytest.mark.parametrize("shape", [(30, 12), (10, 25)])
@pytest.mark.parametrize("lam", [0.05, 0.5])
def test_unconstrained_matches_real_split_normal_equations(shape, lam):
    matrix, u = _complex_problem(0, *shape)
    a, b = _real_split(matrix, u)
    lam_eff = lam * np.sum(np.abs(matrix) ** 2) / shape[1]
    direct = np.linalg.solve(a.T @ a + lam_eff * np.eye(shape[1]), a.T @ b)

    x = kaczmarz(matrix, u, lam, iterations=400, enforce_positive=False)

    assert x.dtype == np.float64
    np.testing.assert_allclose(x, direct, rtol=1e-9, atol=1e-12 * np.abs(direct).max())


def test_unconstrained_complex_matches_complex_normal_equations():
    matrix, u = _complex_problem(1, 25, 10)
    lam_eff = effective_lambda(matrix, 0.1)
    direct = np.linalg.solve(matrix.conj().T @ matrix + lam_eff * np.eye(10), matrix.conj().T @ u)

    x = kaczmarz(matrix, u, 0.1, iterations=400, enforce_real=False, enforce_positive=False)

    assert x.dtype == np.complex128
    np.testing.assert_allclose(x, direct, rtol=1e-9, atol=1e-12)


def test_effective_lambda_is_relative_to_the_normal_matrix_trace():
    matrix, _ = _complex_problem(2, 20, 8)
    trace = np.trace(matrix.conj().T @ matrix).real
    assert effective_lambda(matrix, 0.3) == pytest.approx(0.3 * trace / 8, rel=1e-12)


def test_relative_lambda_scales_with_the_matrix():
    matrix, u = _complex_problem(3, 30, 12)
    absolute = kaczmarz(
        matrix, u, effective_lambda(matrix, 0.2), relative_lambda=False, enforce_positive=False
    )
    relative = kaczmarz(matrix, u, 0.2, enforce_positive=False)
    np.testing.assert_allclose(relative, absolute, rtol=1e-12)

    # A relative lambda makes the result invariant to the matrix scale (x solves S x = u,
    # so scaling both S and u by 1e3 leaves x alone); an absolute one does not.
    scaled = kaczmarz(1e3 * matrix, 1e3 * u, 0.2, enforce_positive=False)
    np.testing.assert_allclose(scaled, relative, rtol=1e-9)
    scaled_absolute = kaczmarz(
        1e3 * matrix,
        1e3 * u,
        effective_lambda(matrix, 0.2),
        relative_lambda=False,
        enforce_positive=False,
    )
    assert np.abs(scaled_absolute - relative).max() > 1e-3 * np.abs(relative).max()


def test_lam_zero_overdetermined_consistent_recovers_the_solution():
    rng = np.random.default_rng(4)
    matrix = rng.standard_normal((40, 10)) + 1j * rng.standard_normal((40, 10))
    truth = rng.random(10)
    x = kaczmarz(matrix, matrix @ truth, 0.0, iterations=300)
    np.testing.assert_allclose(x, truth, rtol=1e-9)


def test_lam_zero_underdetermined_gives_minimum_norm_solution():
    matrix, u = _complex_problem(5, 8, 20)
    a, b = _real_split(matrix, u)
    x = kaczmarz(matrix, u, 0.0, iterations=2000, enforce_positive=False)
    np.testing.assert_allclose(x, np.linalg.pinv(a) @ b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("real_split", [True, False])
def test_projection_after_each_sweep_matches_row_by_row_reference(real_split):
    matrix, u = _complex_problem(6, 15, 9)
    lam_eff = effective_lambda(matrix, 0.05)
    if real_split:
        # kaczmarz interleaves the real and imaginary part of each row.
        rows = np.empty((30, 9))
        rows[0::2], rows[1::2] = matrix.real, matrix.imag
        b = np.empty(30)
        b[0::2], b[1::2] = u.real, u.imag
    else:
        rows, b = matrix, u
    expected = _reference_sweeps(rows, b, lam_eff, 4, enforce_real=True, enforce_positive=True)

    x = kaczmarz(matrix, u, 0.05, iterations=4, real_split=real_split)

    np.testing.assert_allclose(x, expected.real, rtol=1e-12, atol=1e-14)


def test_constraints_give_real_non_negative_images():
    matrix, u = _complex_problem(7, 30, 12)
    x = kaczmarz(matrix, u, 0.01, iterations=5)
    assert x.dtype == np.float64
    assert (x >= 0).all() and (x > 0).any()

    # The unconstrained solution of the same problem has negative entries.
    assert kaczmarz(matrix, u, 0.01, iterations=5, enforce_positive=False).min() < 0

    complex_positive = kaczmarz(matrix, u, 0.01, iterations=5, enforce_real=False)
    assert complex_positive.dtype == np.complex128
    assert (complex_positive.real >= 0).all()
    assert np.abs(complex_positive.imag).max() > 0

    real_only = kaczmarz(matrix, u, 0.01, iterations=5, real_split=False, enforce_positive=False)
    assert real_only.dtype == np.float64 and real_only.min() < 0


@pytest.mark.parametrize("frames", [6, 12])  # one at a time, and all swept together
@pytest.mark.parametrize("enforce_real", [True, False])
def test_multi_frame_equals_frame_by_frame(enforce_real, frames):
    matrix, u = _complex_problem(8, 20, 11, frames=frames)
    together = kaczmarz(matrix, u, 0.02, iterations=3, enforce_real=enforce_real)
    assert together.shape == (11, frames)
    for f in range(frames):
        alone = kaczmarz(matrix, u[:, f], 0.02, iterations=3, enforce_real=enforce_real)
        np.testing.assert_allclose(together[:, f], alone, rtol=1e-13, atol=1e-15)


def test_row_weighting_equals_row_normalised_system():
    matrix, u = _complex_problem(9, 25, 10, frames=2)
    matrix[3] = 0.0  # a row of norm 0 gets weight 0
    matrix[5] *= 100.0
    norms = np.linalg.norm(matrix, axis=1)
    weights = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)

    weighted = kaczmarz(matrix, u, 0.1, iterations=4, row_weighting=True)
    normalised = kaczmarz(matrix * weights[:, None], u * weights[:, None], 0.1, iterations=4)

    np.testing.assert_allclose(weighted, normalised, rtol=1e-12, atol=1e-15)
    assert np.abs(weighted - kaczmarz(matrix, u, 0.1, iterations=4)).max() > 1e-6


def test_zero_rows_are_skipped_with_lam_zero():
    matrix, u = _complex_problem(10, 20, 8)
    with_zero = np.vstack([matrix[:7], np.zeros((1, 8)), matrix[7:]])
    u_with_zero = np.concatenate([u[:7], [1.0 + 2.0j], u[7:]])
    x = kaczmarz(with_zero, u_with_zero, 0.0, iterations=5)
    np.testing.assert_allclose(x, kaczmarz(matrix, u, 0.0, iterations=5), rtol=1e-13)


def test_single_precision_input_is_solved_in_double_precision():
    matrix, u = _complex_problem(11, 30, 12)
    matrix32 = matrix.astype(np.complex64)
    x = kaczmarz(matrix32, u, 0.01, iterations=3)
    reference = kaczmarz(matrix32.astype(np.complex128), u, 0.01, iterations=3)
    np.testing.assert_allclose(x, reference, rtol=1e-13, atol=1e-15)


def test_real_system_stays_real():
    rng = np.random.default_rng(12)
    matrix = rng.standard_normal((30, 10))
    truth = rng.random(10)
    x = kaczmarz(matrix, matrix @ truth, 0.0, iterations=300)
    assert x.dtype == np.float64
    np.testing.assert_allclose(x, truth, rtol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lam": -0.1}, ValueError, "argument `lam`"),
        ({"lam": float("nan")}, ValueError, "argument `lam`"),
        ({"iterations": 0}, ValueError, "argument `iterations`"),
        ({"iterations": 1.5}, ValueError, "argument `iterations`"),
    ],
)
def test_invalid_arguments_raise(kwargs, error, match):
    matrix, u = _complex_problem(13, 6, 4)
    with pytest.raises(error, match=match):
        kaczmarz(matrix, u, **kwargs)


def test_shape_and_value_errors_name_the_problem():
    matrix, u = _complex_problem(14, 6, 4)
    with pytest.raises(PreprocessingError, match=r"shape \(6,\) or \(6, frames\).*\(5,\)"):
        kaczmarz(matrix, u[:5])
    with pytest.raises(PreprocessingError, match="shape \\(rows, voxels\\)"):
        kaczmarz(matrix.ravel(), u)
    bad = u.copy()
    bad[2] = np.nan
    with pytest.raises(PreprocessingError, match="`measurements` to hold finite numbers"):
        kaczmarz(matrix, bad)

"""The NumPy sources of the activation functions: helpers emitted into generated modules.

Each helper keeps its input's floating dtype and is vectorised (no Python loop over
elements). The definitions are docs/semantics.md's, computed as PyTorch and Keras 3 compute
them: hard_sigmoid(x) = relu6(x + 3) / 6 (not Keras 2's clip(0.2x + 0.5, 0, 1)), gelu the
exact erf form, gelu_tanh the tanh approximation, elu(x) = x if x > 0 else alpha (exp(x) - 1).

NumPy has no erf: `_erf` and `_erfc` evaluate two polynomials derived by
scripts/erf_coefficients.py (Chebyshev interpolation in 50-digit arithmetic, converted to the
power basis for Horner's rule), in float64 for float64 inputs and, cut shorter (8 and 12 terms
instead of 14 and 26), in float32 for float32 inputs. Measured (tests/
test_activations_issue9.py) against math.erf on 2 million points of [-7, 7] and geometric grids
from 1e-300 to 30: float64 within 3e-16 relative, erfc within 1.3e-15 relative (the rounding
of erf near |x| = 1 that 1 - erf magnifies); float32 within 1.9e-7 relative (3 float32 ulps).
"""

from __future__ import annotations

_ERF = '''
_ERF_SMALL = (  # erf(x) = x * P(x*x) for |x| <= 1
    1.1283791670955126, -0.37612638903183754, 0.1128379167095512, -0.026866170645129854,
    0.005223977625423455, -0.0008548327021945428, 0.00012055332903350668, -1.4925647581008593e-05,
    1.6462045711013026e-06, -1.6364645854816389e-07, 1.479243542696247e-08, -1.2164764337224506e-09,
    8.709755232851789e-11, -4.2320376764874594e-12,
)

_ERFC_LARGE = (  # erfc(x) = exp(-x*x) * G((x - 4) / (x + 2)) / x for x > 1
    0.5479978305002455, 0.04479259946985342, -0.04599123267443674, 0.02321720178735345,
    -0.006486869334776708, 0.000366767654624053, 0.00039447988406423066, -8.220787137179263e-05,
    -3.074325341674614e-05, 9.570028867089256e-06, 3.587568266153516e-06, -1.00534767373474e-06,
    -5.523034335570625e-07, 7.68810851621373e-08, 9.198123911714963e-08, 3.9698330749924274e-09,
    -1.4019846058626222e-08, -3.783200764966537e-09, 1.5564992887837557e-09, 1.0921197541963611e-09,
    -2.5724511169492677e-11, -2.1041536770699892e-10, -3.189612215483872e-11, 2.65715172759743e-11,
    4.997739932514567e-12, -1.6712246662599722e-12,
)


_ERF_SMALL_32 = (  # float32: the same series, cut at 1e-9
    1.1283791670623609, -0.3761263847599132, 0.11283782622062184, -0.026865438310515116,
    0.005221053412537675, -0.0008484396550601893, 0.00011268253894199437, -9.673590811750782e-06,
)

_ERFC_LARGE_32 = (  # float32: the same series, cut at 1e-9
    0.5479978306612475, 0.04479259923781852, -0.04599124443834367, 0.023217208313766346,
    -0.0064867292076225885, 0.00036671513177869374, 0.0003938628962255731, -8.202632823353965e-05,
    -2.9488778563896285e-05, 9.263992321842944e-06, 2.3488677083312494e-06, -7.566688098725874e-07,
)


def _polynomial(coefficients, t):
    """sum coefficients[i] * t**i by Horner's rule, on one new array."""
    y = np.full_like(t, coefficients[-1])
    for c in coefficients[-2::-1]:
        y *= t
        y += c
    return y


def _erfc_large(x):
    """erfc(x) for x > 1. In float64, exp(-x*x) is taken as exp(-h*h) * exp((h - x) * (h + x)),
    h = x rounded to float32: h*h is exact, so the rounding of x*x (which exp would magnify
    x*x-fold) never happens; erfc is 0 in float64 past 27.3, and x is capped at 30, which keeps
    inf out of the split. float32 (erfc 0 past 10.1) takes exp(-x*x) as it is."""
    if x.dtype == np.float32:
        x = np.minimum(x, np.float32(11))
        return np.exp(-x * x) * _polynomial(_ERFC_LARGE_32, (x - 4) / (x + 2)) / x
    x = np.minimum(x, 30.0)
    h = x.astype(np.float32).astype(np.float64)
    e = np.exp(-h * h) * np.exp((h - x) * (h + x))
    return e * _polynomial(_ERFC_LARGE, (x - 4) / (x + 2)) / x


def _erf(x):
    """The error function, elementwise, in x's dtype (float32 in float32 with the shorter
    series, anything else in float64)."""
    return _by_blocks(_erf_block, x)


def _erfc(x):
    """1 - erf(x), elementwise, without that subtraction's cancellation for large x
    (erfc(-x) = 2 - erfc(x)); in x's dtype, computed as _erf computes."""
    return _by_blocks(_erfc_block, x)


_BLOCK = 1 << 16  # elements per block: a block's temporaries stay in the CPU cache


def _by_blocks(function, x):
    """function over x's elements, _BLOCK at a time: the polynomials make ~40 passes over
    their arrays, 5x faster from cache than from memory (the loop is over blocks of
    elements, never over pixels or channels)."""
    flat = np.ravel(x)
    out = np.empty(flat.shape, dtype=x.dtype)
    inner = np.float32 if x.dtype == np.float32 else np.float64
    for start in range(0, flat.size, _BLOCK):
        out[start:start + _BLOCK] = function(flat[start:start + _BLOCK].astype(inner))
    return out.reshape(np.shape(x))


def _small_series(z):
    return _ERF_SMALL_32 if z.dtype == np.float32 else _ERF_SMALL


def _erf_block(z):
    a = np.abs(z)
    y = np.empty_like(a)
    small = a <= 1
    t = a[small]
    y[small] = t * _polynomial(_small_series(z), t * t)
    large = ~small  # NaN included: it stays NaN
    y[large] = 1 - _erfc_large(a[large])
    return np.copysign(y, z)


def _erfc_block(z):
    y = np.empty_like(z)
    small = np.abs(z) <= 1
    t = z[small]
    y[small] = 1 - t * _polynomial(_small_series(z), t * t)
    large = ~small
    t = z[large]
    tail = _erfc_large(np.abs(t))
    y[large] = np.where(t > 0, tail, 2 - tail)
    return y
'''

_FUNCTIONS = {
    "relu": '''
def _relu(x):
    return np.maximum(x, 0)
''',
    "leaky_relu": '''
def _leaky_relu(x, alpha):
    return np.where(x >= 0, x, alpha * x)
''',
    "sigmoid": '''
def _sigmoid(x):
    """1 / (1 + exp(-x)), in place on one new array; exp(-x) = inf for x < -88 (float32)
    gives exactly 0, so that overflow is expected and silenced."""
    y = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(y, out=y)
    y += 1
    return np.reciprocal(y, out=y)
''',
    "tanh": '''
def _tanh(x):
    return np.tanh(x)
''',
    "softmax": '''
def _softmax(x):
    """Softmax over the last axis (channels, or features of a flat vector); max subtracted."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
''',
    "relu6": '''
def _relu6(x):
    """min(max(x, 0), 6)."""
    y = np.maximum(x, 0)
    return np.minimum(y, 6, out=y)
''',
    "swish": '''
def _swish(x):
    """x * sigmoid(x) (also called SiLU)."""
    return x * _sigmoid(x)
''',
    "hard_sigmoid": '''
def _hard_sigmoid(x):
    """relu6(x + 3) / 6: PyTorch's Hardsigmoid and Keras 3's hard_sigmoid (not Keras 2's
    clip(0.2 * x + 0.5, 0, 1))."""
    y = x + 3
    np.clip(y, 0, 6, out=y)
    y /= 6
    return y
''',
    "hard_swish": '''
def _hard_swish(x):
    """x * relu6(x + 3) / 6 (MobileNetV3's hard-swish)."""
    return x * _hard_sigmoid(x)
''',
    "gelu": '''
def _gelu(x):
    """The exact GELU (no tanh approximation): x * Phi(x) = x/2 * erfc(-x / sqrt(2))."""
    return 0.5 * x * _erfc(x * -0.7071067811865476)
''',
    "gelu_tanh": '''
def _gelu_tanh(x):
    """GELU's tanh approximation: x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3))).
    x**3 overflows to inf only where tanh is +-1 anyway, so that overflow is silenced."""
    with np.errstate(over="ignore"):
        inner = 0.7978845608028654 * (x + 0.044715 * (x * x * x))
    return 0.5 * x * (1 + np.tanh(inner))
''',
    "elu": '''
def _elu(x, alpha):
    """x if x > 0 else alpha * (exp(x) - 1), by expm1 (exact near 0, no overflow)."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
''',
}

# the helpers each activation's helper calls
_CALLS = {"swish": ("sigmoid",), "hard_swish": ("hard_sigmoid",), "gelu": ("erf",)}

# name -> (source, helpers it calls), as cnnspec.backends.numpy.HELPERS holds them
HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {
    **{name: (source, _CALLS.get(name, ())) for name, source in _FUNCTIONS.items()},
    "erf": (_ERF, ()),
}

# the activations whose helper takes alpha as its second argument
WITH_ALPHA = ("leaky_relu", "elu")

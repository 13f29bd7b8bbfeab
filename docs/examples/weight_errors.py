"""What `cnnspec.weights.validate` says about a weight dict that does not fit (docs/backends.md)."""

import numpy as np

import cnnspec
from cnnspec import weights

net = cnnspec.loads("input 6x6x2\nc1: conv 4 3x3\nbn: batchnorm\nf: flatten\nd1: dense 3\n")
params = weights.init_weights(net)
del params["bn.moving_variance"]
params["out.bias"] = np.zeros(3, np.float32)
params["c1.kernel"] = params["c1.kernel"].transpose(3, 2, 0, 1)  # PyTorch's layout
params["d1.bias"] = np.zeros(3, np.int64)
try:
    weights.validate(net, params)
except weights.WeightError as err:
    print(err)

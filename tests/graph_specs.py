"""A small ResNet-style spec for the through-loads tests of issue 8."""

from __future__ import annotations

# line 12 is stem; layer1 (two blocks without projection), layer2 (layer2.0 has `proj`)
RESNET = """\
input 32x32x3

block basic(filters, stride=1)
  conv1: conv filters 3x3 stride=stride pad=1 bias=false
  bn1:   batchnorm -> relu
  conv2: conv filters 3x3 pad=1 bias=false
  bn2:   batchnorm
  proj:  conv filters 1x1 stride=stride bias=false round=floor from=in  if stride != 1 or in.channels != filters
  out:   add bn2 proj?in -> relu
end

stem: conv 16 3x3 pad=1
layer1: repeat 2 basic 16
layer2: repeat 2 basic 32 first(stride=2)
gap: globalavgpool
fc: dense 10
"""
RULES_LINE = RESNET.count("\n") + 1  # the first line after RESNET


def block_params(c_in: int, c: int, proj: bool) -> int:
    """conv1 + bn1 + conv2 + bn2 (+ proj): the parameters of one `basic` instance."""
    return 9 * c_in * c + 4 * c + 9 * c * c + 4 * c + (c_in * c if proj else 0)

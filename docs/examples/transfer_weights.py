"""What loading a base's weight file into a transfer network reports (docs/transfer.md)."""

import cnnspec
from cnnspec import weights

base = cnnspec.load("specs/digits_base.cnn")
head = cnnspec.load("specs/transfer_feature_extraction.cnn")
trained = weights.init_weights(base, seed=0)  # stands for the trained base's weight file

params, report = weights.assemble(head, trained)
print(report.text())

trained["conv2.kernel"] = trained["conv2.kernel"][..., :16]  # a base with 16 kernels in conv2
try:
    weights.assemble(head, trained)
except weights.WeightError as err:
    print(f"refused: {err}")

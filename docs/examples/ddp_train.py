"""One SGD step of the generated PyTorch LeNet-5 under DistributedDataParallel (docs/deployment.md).

Launched by torchrun, each process takes its share of one global batch and DDP averages the
gradients, so the step equals one step of a single process on the whole batch:

    torchrun --standalone --nproc-per-node=2 docs/examples/ddp_train.py ddp.safetensors

Run with plain `python` (no torchrun, no process group) it is that single process. Either way
the trained weights are written, by rank 0, as a portable weight file.
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import cnnspec
from cnnspec import weights as W

SPEC = Path(__file__).resolve().parents[2] / "specs" / "lenet5.cnn"
GLOBAL_BATCH, LR = 8, 0.5


def global_batch(net, seed: int = 0):
    """The same global batch in every process: NCHW float64 images and class labels."""
    rng = np.random.default_rng(seed)
    h, w, c = net.input_shape
    x = torch.from_numpy(rng.standard_normal((GLOBAL_BATCH, c, h, w)))
    y = torch.from_numpy(rng.integers(0, net.output.out_shape[-1], GLOBAL_BATCH))
    return x, y


def main(out: str) -> None:
    distributed = "RANK" in os.environ  # set by torchrun (or any env:// launcher)
    if distributed:
        dist.init_process_group("gloo")  # CPU; "nccl" on GPUs
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    net = cnnspec.load(SPEC)
    model = cnnspec.build(net, "torch", seed=0, dtype="float64").train()  # the same start everywhere
    trained = DistributedDataParallel(model) if distributed else model
    x, y = global_batch(net)
    mine = slice(rank * GLOBAL_BATCH // world, (rank + 1) * GLOBAL_BATCH // world)
    optimizer = torch.optim.SGD(trained.parameters(), lr=LR)
    loss = F.cross_entropy(trained(x[mine]), y[mine])  # the mean over this process's samples
    loss.backward()  # DDP: gradients averaged over the processes = the global batch's mean
    optimizer.step()
    if rank == 0:
        W.save_file(model.cnnspec_module.to_portable(model), out)
        print(f"{world} process(es), global batch {GLOBAL_BATCH}: wrote {out}")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "lenet5_trained.safetensors")

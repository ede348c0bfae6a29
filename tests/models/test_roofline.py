"""The benchmarks' arithmetic: core_macs against torch's own FLOP counter."""

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from meiflow.models.network import PerNeuronCNN

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from roofline import core_macs  # noqa: E402

from meiflow.models.settings import ArchitectureSettings


@pytest.mark.parametrize(
    ("channels", "first_kernel", "hidden_kernel", "pool", "layers"),
    [(64, 4, 3, 2, 3), (8, 5, 5, 1, 2), (16, 13, 3, 3, 4)],
)
def test_core_macs_counts_the_convolutions(channels, first_kernel, hidden_kernel, pool, layers):
    settings = ArchitectureSettings(
        channels=channels,
        first_kernel=first_kernel,
        hidden_kernel=hidden_kernel,
        pool=pool,
        layers=layers,
    )
    model = PerNeuronCNN(1, 30, 42, settings, [0]).eval()

    def convolution_flops(batch: int) -> int:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model.core(torch.rand(batch, 1, 30, 42))
        return counter.get_flop_counts()["Global"][torch.ops.aten.convolution]

    # per image: the kernel-times-pooling-box convolution is done once per call, not per image
    assert convolution_flops(3) - convolution_flops(2) == 2 * core_macs(settings, 30, 42)

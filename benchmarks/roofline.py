"""Arithmetic of the per-neuron CNN and the convolution throughput this machine reaches.

The benchmarks compare what they achieve (GFLOP/s of the model's convolutions) with the best a
large dense convolution reaches here: if one model at a time already runs near that figure, no
batching can multiply its throughput (it can only save per-call overheads).
"""

import argparse
import time

import torch
import torch.nn.functional as F

from meiflow.models.settings import ArchitectureSettings
from meiflow.models.training import device_for


def core_macs(settings: ArchitectureSettings, height: int, width: int) -> int:
    """Multiply-accumulates of one model's core on one (height, width) image, forward pass.

    Layer 0 is one stride-``pool`` convolution with a (first_kernel + pool - 1)^2 kernel on the
    single-channel image (how ``PerNeuronCNN`` computes convolution + pooling); the hidden layers
    are channels x channels convolutions of hidden_kernel^2 on the pooled map. The readout (one
    dot product per feature map) and the elementwise layers are left out (< 1 %).
    """
    s = settings
    pixels = (height // s.pool) * (width // s.pool)
    first = pixels * s.channels * (s.first_kernel + s.pool - 1) ** 2
    hidden = (s.layers - 1) * pixels * s.channels**2 * s.hidden_kernel**2
    return first + hidden


def conv_peak_gflops(device: torch.device, repeats: int = 5) -> float:
    """Best GFLOP/s of a large dense 3x3 convolution (float32, 128 -> 128 channels, 64 maps of
    30 x 48, forward), in the default and the channels_last memory formats."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 128, 30, 48, generator=generator).to(device)
    w = torch.randn(128, 128, 3, 3, generator=generator).to(device)
    flops = 2 * 64 * 30 * 48 * 128 * 128 * 9
    best = float("inf")
    for fmt in (torch.contiguous_format, torch.channels_last):
        xf, wf = x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt)
        F.conv2d(xf, wf, padding=1)  # warm-up
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            F.conv2d(xf, wf, padding=1)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def arithmetic_line(gflop: float, item: str, rates: dict[str, float], peak: float) -> str:
    """'arithmetic: G GFLOP per item; label R GFLOP/s, ...; a large dense convolution here: P
    GFLOP/s' for work of ``gflop`` GFLOP per item done at ``rates`` (items per second, by label)
    on a machine whose dense-convolution throughput is ``peak`` GFLOP/s."""
    achieved = ", ".join(f"{label} {gflop * rate:.0f} GFLOP/s" for label, rate in rates.items())
    return (
        f"arithmetic: {gflop:.2f} GFLOP per {item}; {achieved}; "
        f"a large dense convolution here: {peak:.0f} GFLOP/s"
    )


def main() -> None:
    """Print the dense-convolution ceiling of this machine and one model's arithmetic."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--height", type=int, default=60)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto = cuda when available, else cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = device_for(args.device)
    settings = ArchitectureSettings(channels=args.channels)
    macs = core_macs(settings, args.height, args.width)
    print(
        f"device {device} ({args.threads} threads), torch {torch.__version__}; {settings}: "
        f"{2 * macs / 1e6:.1f} MFLOP per {args.height}x{args.width} image (forward); "
        f"a large dense convolution here: {conv_peak_gflops(device):.0f} GFLOP/s"
    )


if __name__ == "__main__":
    main()

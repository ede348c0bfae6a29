"""Training throughput of the batched per-neuron CNNs: one model at a time vs a chunk at once.

One neuron-epoch = one model trained on all images once (forward, Poisson loss + regularizer,
backward, an Adam step per batch). Random images and positive targets; the first batch of each
run is a warm-up and is not timed. Throughput is from wall-clock time; the process CPU time is
printed too (on a shared machine the wall-clock figures of short runs suffer most). The last
line relates both to the convolution throughput this machine reaches (``roofline.py``):
batching cannot beat that ceiling.

On CPU, meiflow.models.network.keep_freed_memory() is called first (glibc malloc otherwise
page-faults the large batched activations in again at every step); --default-malloc shows the
difference.

    python benchmarks/bench_models.py --channels 64 --height 60 --width 96 --images 118 \
        --batch 32 --chunk 32 --epochs 2 --threads 2 --device auto
"""

import argparse
import time

import torch
from roofline import arithmetic_line, conv_peak_gflops, core_macs

from meiflow.models.network import READOUTS, PerNeuronCNN, keep_freed_memory
from meiflow.models.settings import ArchitectureSettings
from meiflow.models.training import device_for


def train_time(
    n_models: int,
    images: torch.Tensor,
    targets: torch.Tensor,
    settings: ArchitectureSettings,
    args: argparse.Namespace,
    readout: str,
) -> tuple[float, float]:
    """Wall-clock and process CPU seconds to train a chunk of ``n_models`` for ``args.epochs``
    epochs (warm-up excluded)."""
    device = images.device
    model = PerNeuronCNN(
        n_models, args.height, args.width, settings, range(n_models), readout=readout
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    targets = targets[:, :n_models]

    def step(batch: slice) -> None:
        optimizer.zero_grad(set_to_none=True)
        prediction = model(images[batch])
        poisson = (prediction - targets[batch] * torch.log(prediction + 1e-8)).mean(0)
        (poisson + model.regularizer()).sum().backward()
        optimizer.step()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step(slice(0, args.batch))
    synchronize()
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(args.epochs):
        for first in range(0, len(images), args.batch):
            step(slice(first, first + args.batch))
    synchronize()
    return time.perf_counter() - start, time.process_time() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--height", type=int, default=60)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--images", type=int, default=118)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs each; best reported")
    parser.add_argument("--device", default="auto", help="auto = cuda when available, else cpu")
    parser.add_argument(
        "--readout", choices=(*READOUTS, "both"), default="adjoint", help="readout implementation"
    )
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc malloc as it is (no meiflow.models.network.keep_freed_memory())",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = device_for(args.device)
    tuned = False if args.default_malloc or device.type != "cpu" else keep_freed_memory()
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.images, 1, args.height, args.width, generator=generator).to(device)
    targets = torch.distributions.Gamma(2.0, 1.0).sample((args.images, args.chunk)).to(device)
    settings = ArchitectureSettings(channels=args.channels)
    print(
        f"device {device} ({args.threads} threads), torch {torch.__version__}; "
        f"{args.images} images {args.height}x{args.width}, batch {args.batch}, "
        f"{args.epochs} epochs, best of {args.repeats}; {settings}"
        + (", keep_freed_memory()" if tuned else ", default malloc")
    )
    readouts = READOUTS if args.readout == "both" else (args.readout,)
    for readout in readouts:
        rates = {}
        for n_models in (1, args.chunk):
            seconds, cpu = min(
                train_time(n_models, images, targets, settings, args, readout)
                for _ in range(args.repeats)
            )
            rates[n_models] = n_models * args.epochs / seconds
            print(
                f"readout {readout:7s} chunk {n_models:3d}: {seconds:8.2f} s ({cpu:7.2f} s CPU), "
                f"{rates[n_models]:8.3f} neuron-epochs/s"
            )
        print(
            f"readout {readout:7s} batched / one-at-a-time throughput: "
            f"{rates[args.chunk] / rates[1]:.2f}x"
        )
    # forward + gradients of the activations and of the kernels: about 3 forward passes
    gflop = 3 * 2 * core_macs(settings, args.height, args.width) * args.images / 1e9
    peak = conv_peak_gflops(device)
    labelled = {"one at a time": rates[1], f"chunk of {args.chunk}": rates[args.chunk]}
    print(
        f"{arithmetic_line(gflop, 'neuron-epoch', labelled, peak)}, so batching can gain at most "
        f"{peak / rates[1] / gflop:.1f}x over one at a time"
    )


if __name__ == "__main__":
    main()

"""MEI synthesis throughput: the notebook's loop (one image, one model) vs batched ``synthesize``.

(a) The notebook's way: one starting image through a one-model network, one MEI at a time;
timed on min(--steps, --single-steps) steps and extrapolated to --steps. (b) ``synthesize`` on
--units models x --inits starting images at once for --steps steps. Both use a PerNeuronCNN at
the notebook's size with random weights, in eval mode with frozen parameters (requires_grad
False, as the workflow does), and the same method and constants; the first steps of each run
are a warm-up and are not timed. Throughput is MEIs (of --steps steps) per second of wall-clock
time (process CPU time printed too: on a shared machine the wall-clock figures suffer). The
reference is the notebook's loop: about 6.8 ms per step (6.8 s per 1000-step MEI) on 2 CPU
threads. The last line relates the figures to the convolution throughput this machine reaches
(``roofline.py``).

    python benchmarks/bench_meis.py --units 32 --inits 4 --steps 1000 --channels 64 \
        --height 60 --width 96 --device auto --threads 2
"""

import argparse
import time

import torch
from roofline import arithmetic_line, conv_peak_gflops, core_macs

from meiflow.mei.settings import METHODS, MEISettings
from meiflow.mei.synthesis import initial_images, synthesize
from meiflow.models.network import PerNeuronCNN, keep_freed_memory, model_response, select
from meiflow.models.settings import ArchitectureSettings
from meiflow.models.training import device_for

NOTEBOOK_MS_PER_STEP = 6.8  # the notebook's loop, 2 CPU threads
TARGET_STD = 0.27  # C*, about the mean pixel std of the natural scenes
WARM_UP_STEPS = 2


def run_time(model: PerNeuronCNN, n_init: int, steps: int, args: argparse.Namespace) -> tuple:
    """Wall-clock and process CPU seconds of ``synthesize`` over ``steps`` steps (warm-up
    excluded) for every model of ``model`` from ``n_init`` noise starts."""
    model.requires_grad_(False)
    device = model.positions.device
    kinds = [f"noise:{i}" for i in range(n_init)]
    initial = initial_images(model.n_models, args.height, args.width, kinds, 0, device)
    response = model_response(model)

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    synthesize(response, initial, MEISettings(args.method, WARM_UP_STEPS), TARGET_STD)
    synchronize()
    start, start_cpu = time.perf_counter(), time.process_time()
    synthesize(response, initial, MEISettings(args.method, steps), TARGET_STD)
    synchronize()
    return time.perf_counter() - start, time.process_time() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--inits", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1000, help="steps of one MEI")
    parser.add_argument(
        "--single-steps", type=int, default=200, help="timed steps of the one-image loop (a)"
    )
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--height", type=int, default=60)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--method", choices=METHODS, default="notebook")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto = cuda when available, else cpu")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = device_for(args.device)
    tuned = device.type == "cpu" and keep_freed_memory()
    settings = ArchitectureSettings(channels=args.channels)
    model = PerNeuronCNN(args.units, args.height, args.width, settings, range(args.units))
    model = model.to(device).eval()
    print(
        f"device {device} ({args.threads} threads), torch {torch.__version__}; "
        f"{args.height}x{args.width} images, method {args.method}, {args.steps} steps per MEI; "
        f"{settings}" + (", keep_freed_memory()" if tuned else "")
    )

    single_steps = min(args.steps, args.single_steps)
    seconds, cpu = run_time(select(model, [0]), 1, single_steps, args)
    single_ms = 1e3 * seconds / single_steps
    single_rate = 1e3 / (single_ms * args.steps)
    print(
        f"(a) one image, one model: {single_ms:8.2f} ms/step ({1e3 * cpu / single_steps:.2f} ms "
        f"CPU) over {single_steps} steps -> {single_ms * args.steps / 1e3:8.2f} s per MEI, "
        f"{single_rate:8.3f} MEIs/s"
    )

    n_meis = args.units * args.inits
    seconds, cpu = run_time(model, args.inits, args.steps, args)
    batched_rate = n_meis / seconds
    print(
        f"(b) batched {args.units} units x {args.inits} inits: {seconds:8.2f} s "
        f"({cpu:.2f} s CPU), {1e3 * seconds / args.steps:8.2f} ms/step -> "
        f"{batched_rate:8.3f} MEIs/s"
    )
    notebook_rate = 1e3 / (NOTEBOOK_MS_PER_STEP * args.steps)
    print(
        f"batched / one-at-a-time throughput: {batched_rate / single_rate:.2f}x; "
        f"batched / the notebook's {NOTEBOOK_MS_PER_STEP} ms per step (2 CPU threads, "
        f"{notebook_rate:.3f} MEIs/s): {batched_rate / notebook_rate:.2f}x"
    )
    # forward + gradient of the activations (frozen kernels): about 2 forward passes per step
    gflop = 2 * 2 * core_macs(settings, args.height, args.width) * args.steps / 1e9
    peak = conv_peak_gflops(device)
    rates = {"one at a time": single_rate, "batched": batched_rate}
    print(
        f"{arithmetic_line(gflop, 'MEI', rates, peak)}, so at most "
        f"{peak / gflop / notebook_rate:.1f}x the notebook's throughput"
    )


if __name__ == "__main__":
    main()

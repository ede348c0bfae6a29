"""MEI synthesis throughput: the notebook's loop (one image, one model) vs a batched recipe.

(a) The notebook's way: its method, one starting image through a one-model network, one MEI at
a time; timed on min(--steps, --single-steps) steps and extrapolated to --steps. (b)
``synthesize`` with --recipe on --units models x --inits starting images at once for --steps
steps, plus the polish's 200 steps for the ``polished`` recipe (the workflow's default: walker
on the stimulus budget, then the polish; ``budget``: without the polish; ``walker``: Walker's
clipping; ``notebook``: the notebook's method batched). Both use a PerNeuronCNN at the
notebook's size with random weights, in eval mode with frozen parameters (requires_grad False,
as the workflow does); the budget is a session's (mean 0.5, RMS contrast at most C* = 0.27).
Each timed run follows an untimed warm-up run of 2 steps (and, for ``polished``, its polish).
Throughput is in MEIs (of their recipe's steps) and MEI-steps per second of wall-clock time
(process CPU time printed too). On a machine where other jobs run, 2 threads contend with them
and both figures swing by 100x between runs: use ``--threads 1`` there. The reference is the
notebook's loop: about 6.8 ms per step (6.8 s per 1000-step MEI) on 2 CPU threads. The last
line relates the figures to the convolution throughput this machine reaches (``roofline.py``).

    python benchmarks/bench_meis.py --units 32 --inits 4 --steps 1000 --channels 64 \
        --height 60 --width 96 --recipe polished --device auto --threads 2

On a GPU, the issue's size: --units 100 --inits 8 --steps 1000.
"""

import argparse
import time

import torch
from roofline import arithmetic_line, conv_peak_gflops, core_macs

from meiflow.mei.settings import POLISH, MEISettings
from meiflow.mei.synthesis import initial_images, synthesize
from meiflow.models.network import PerNeuronCNN, keep_freed_memory, model_response, select
from meiflow.models.settings import ArchitectureSettings
from meiflow.models.training import device_for
from meiflow.stimuli.budget import StimulusBudget

NOTEBOOK_MS_PER_STEP = 6.8  # the notebook's loop, 2 CPU threads
TARGET_STD = 0.27  # C*, about the mean pixel std of the natural scenes
WARM_UP_STEPS = 2


#: The recipes of (b): (method, on the budget, polished).
RECIPES = {
    "polished": ("walker", True, True),
    "budget": ("walker", True, False),
    "walker": ("walker", False, False),
    "notebook": ("notebook", False, False),
}


def run_time(model: PerNeuronCNN, n_init: int, steps: int, recipe: str, args) -> tuple:
    """Wall-clock and process CPU seconds of ``synthesize`` with ``recipe`` over ``steps`` steps
    (and its polish; warm-up excluded) for every model of ``model`` from ``n_init`` noise
    starts."""
    model.requires_grad_(False)
    device = model.positions.device
    kinds = [f"noise:{i}" for i in range(n_init)]
    initial = initial_images(model.n_models, args.height, args.width, kinds, 0, device)
    response = model_response(model)
    method, on_budget, polish = RECIPES[recipe]
    budget = StimulusBudget(0.5, TARGET_STD) if on_budget else None

    def run(n_steps: int) -> None:
        settings = MEISettings(method, n_steps, budget=on_budget, polish=polish)
        synthesize(response, initial, settings, TARGET_STD, budget)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run(WARM_UP_STEPS)
    start, start_cpu = time.perf_counter(), time.process_time()
    run(steps)
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
    parser.add_argument("--recipe", choices=list(RECIPES), default="polished", help="of (b)")
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
        f"{args.height}x{args.width} images, recipe {args.recipe}, {args.steps} steps per MEI; "
        f"{settings}" + (", keep_freed_memory()" if tuned else "")
    )

    single_steps = min(args.steps, args.single_steps)
    seconds, cpu = run_time(select(model, [0]), 1, single_steps, "notebook", args)
    single_ms = 1e3 * seconds / single_steps
    print(
        f"(a) one image, one model: {single_ms:8.2f} ms/step ({1e3 * cpu / single_steps:.2f} ms "
        f"CPU) over {single_steps} steps -> {single_ms * args.steps / 1e3:8.2f} s per MEI, "
        f"{1e3 / (single_ms * args.steps):8.3f} MEIs/s"
    )

    n_meis = args.units * args.inits
    seconds, cpu = run_time(model, args.inits, args.steps, args.recipe, args)
    batched_rate = n_meis / seconds
    total_steps = args.steps + (sum(s.steps for s in POLISH) if RECIPES[args.recipe][2] else 0)
    print(
        f"(b) {args.recipe}, batched {args.units} units x {args.inits} inits, {total_steps} "
        f"steps: {seconds:8.2f} s ({cpu:.2f} s CPU), {1e3 * seconds / total_steps:8.2f} ms/step "
        f"-> {batched_rate:8.3f} MEIs/s, {n_meis * total_steps / seconds:10.0f} MEI-steps/s "
        f"(the notebook's loop: {1e3 / single_ms:.0f} MEI-steps/s)"
    )
    step_rates = {"one at a time": 1e3 / single_ms, "batched": n_meis * total_steps / seconds}
    notebook_step_rate = 1e3 / NOTEBOOK_MS_PER_STEP
    print(
        f"MEI-steps/s, batched / one-at-a-time: "
        f"{step_rates['batched'] / step_rates['one at a time']:.2f}x; batched / the notebook's "
        f"{NOTEBOOK_MS_PER_STEP} ms per step (2 CPU threads, {notebook_step_rate:.0f} "
        f"MEI-steps/s): {step_rates['batched'] / notebook_step_rate:.2f}x"
    )
    # forward + gradient of the activations (frozen kernels): about 2 forward passes per step
    gflop = 2 * 2 * core_macs(settings, args.height, args.width) / 1e9
    peak = conv_peak_gflops(device)
    print(
        f"{arithmetic_line(gflop, 'MEI-step', step_rates, peak)}, so at most "
        f"{peak / gflop / notebook_step_rate:.1f}x the notebook's throughput; batched reaches "
        f"{gflop * step_rates['batched'] / peak:.0%} of the convolution ceiling"
    )


if __name__ == "__main__":
    main()

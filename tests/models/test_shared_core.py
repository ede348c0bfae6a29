"""The shared-core model: one core, a readout per unit; pairing, penalty, training, checkpoints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from meiflow.models.network import CheckpointError, PerNeuronCNN, model_response
from meiflow.models.settings import (
    ArchitectureSettings,
    ModelsSettings,
    SharedCoreSettings,
    TrainingSettings,
)
from meiflow.models.shared_core import (
    CoreMember,
    SharedCoreCNN,
    load_shared_core,
    save_shared_core,
    shared_core_ensemble,
    shared_core_predict,
    train_shared_core,
)

pytestmark = pytest.mark.usefixtures("one_thread")

H, W = 16, 24
SMALL = ArchitectureSettings(channels=4, layers=2, first_kernel=5)


def network(n_units: int = 3, seed: int = 0, settings=SMALL) -> SharedCoreCNN:
    model = SharedCoreCNN(n_units, H, W, settings, seed)
    generator = torch.Generator().manual_seed(seed + 100)
    model.set_positions(torch.rand(n_units, 2, generator=generator) * 1.2 - 0.6)
    with torch.no_grad():  # distinct readouts and non-trivial batch-norm statistics
        model.feature_weights.add_(
            0.2 * torch.randn(model.feature_weights.shape, generator=generator)
        )
        for norm in model.norms:
            norm.running_mean.normal_(0, 0.1, generator=generator)
            norm.running_var.uniform_(0.5, 1.5, generator=generator)
    return model.eval()


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, H, W, generator=torch.Generator().manual_seed(seed))


def test_paired_images_reach_their_own_unit_only():
    model = network()
    shown = images(5, seed=1)
    shared = model(shown)
    assert shared.shape == (5, 3) and (shared > 0).all()
    # every unit shown the same image, paired: the same responses
    torch.testing.assert_close(model(shown.expand(-1, 3, -1, -1)), shared)
    # each unit its own image: unit u's response is its response to that image alone
    paired = torch.rand(4, 3, H, W, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    out = model(paired)
    for u in range(3):
        torch.testing.assert_close(out[:, u], model(paired[:, u : u + 1].detach())[:, u])
    (gradient,) = torch.autograd.grad(out[:, 1].sum(), paired)
    assert gradient[:, 1].abs().sum() > 0
    assert (gradient[:, [0, 2]] == 0).all()  # nothing reaches the other units' images
    with pytest.raises(ValueError, match="expected images"):
        model(torch.rand(2, 2, H, W))


def test_the_penalty_is_the_per_neuron_models_penalty_of_the_one_core_and_every_readout():
    settings = dataclasses.replace(SMALL, gamma_readout=0.3)
    model = network(settings=settings)
    alone = PerNeuronCNN(1, H, W, settings, [0])  # one per-neuron model with the same core
    with torch.no_grad():
        for mine, its in zip(model.conv_weights, alone.conv_weights, strict=True):
            its.copy_(mine)
        alone.feature_weights.zero_()
    expected = alone.regularizer()[0] + 0.3 * model.feature_weights.abs().sum()
    torch.testing.assert_close(model.regularizer(), expected)


def test_training_recovers_a_population_of_a_shared_core():
    # responses of a teacher network: a student with another core seed, its readouts started
    # at the teacher's positions, learns to predict held-out images
    teacher = network(n_units=6, seed=0)
    frames = 400
    x = images(frames, seed=3)
    with torch.no_grad():
        means = teacher(x) * 2.0
    split = np.array(["train"] * 320 + ["validation"] * 40 + ["test"] * 40)
    student = SharedCoreCNN(6, H, W, SMALL, seed=7)
    student.set_positions(teacher.positions.detach())
    settings = TrainingSettings(max_epochs=150, batch_size=32, lr=0.01, patience=5)
    test = torch.as_tensor(split == "test")

    def test_r() -> float:
        with torch.no_grad():
            p, o = student.eval()(x[test]), means[test]
        p, o = p - p.mean(0), o - o.mean(0)
        return float(((p * o).sum(0) / (p.norm(dim=0) * o.norm(dim=0))).mean())

    before = test_r()
    scored = np.array([True] * 4 + [False] * 2)
    result = train_shared_core(student, x, means, torch.ones(frames), split, scored, settings)
    assert result.best_epoch == int(np.argmax(result.validation_correlation))
    # from r about 0 to about 0.87 (a random teacher on noise images is not fully identifiable)
    assert result.validation_correlation.max() > 0.8 and test_r() > max(0.8, before + 0.5)
    assert not student.training  # left in eval mode at its best state
    with pytest.raises(ValueError, match="scored unit"):
        train_shared_core(student, x, means, torch.ones(frames), split, scored & False, settings)


def test_a_checkpoint_restores_every_core_with_its_units_group_and_member(tmp_path):
    cores = [
        CoreMember(network(seed=0), np.array([950000004, 950000017, 950000101]), "VISp", 0),
        CoreMember(network(seed=1), np.array([950000004, 950000017, 950000101]), "VISp", 1),
        CoreMember(network(n_units=2, seed=2), np.array([7, 8]), "VISl", 0),
    ]
    save_shared_core(cores, tmp_path / "model.pt")
    loaded = load_shared_core(tmp_path / "model.pt")
    assert [(c.group, c.member) for c in loaded] == [("VISp", 0), ("VISp", 1), ("VISl", 0)]
    for mine, its in zip(cores, loaded, strict=True):
        np.testing.assert_array_equal(its.units, mine.units)
        torch.testing.assert_close(its.model(images(3)), mine.model(images(3)))
        assert not any(p.requires_grad for p in its.model.parameters())
    # the members' mean per group, groups in order
    units, predicted = shared_core_predict(loaded, images(3))
    np.testing.assert_array_equal(units, [950000004, 950000017, 950000101, 7, 8])
    expected = (cores[0].model(images(3)) + cores[1].model(images(3))) / 2
    torch.testing.assert_close(predicted[:, :3], expected)
    torch.testing.assert_close(predicted[:, 3:], cores[2].model(images(3)))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_shared_core(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        load_shared_core(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="2 unit ids for 3 readouts"):
        save_shared_core([CoreMember(network(), np.array([1, 2]), "session", 0)], tmp_path / "x")


def test_a_subset_keeps_the_core_and_the_chosen_readouts():
    model = network(n_units=4, seed=3)
    part = model.subset([3, 1])
    assert part.n_models == 2 and not part.training
    torch.testing.assert_close(part(images(5)), model(images(5))[:, [3, 1]])
    paired = torch.rand(2, 4, H, W, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(part(paired[:, [3, 1]]), model(paired)[:, [3, 1]])
    with pytest.raises(IndexError, match="not in 0..3"):
        model.subset([4])


def test_the_shared_core_ensemble_averages_its_members_for_a_chunks_units():
    units = np.array([10, 11, 12, 13])
    cores = [CoreMember(network(4, seed=m), units, "session", m) for m in (1, 0)]
    ensemble = shared_core_ensemble(cores, np.array([13, 11]))
    assert ensemble.n_members == 2 and ensemble.n_units == 2
    assert (ensemble.height, ensemble.width) == (H, W)
    shown = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(5))
    expected = torch.stack(
        [
            model_response(c.model.subset([3, 1]))(shown)
            for c in sorted(cores, key=lambda c: c.member)
        ]
    )
    torch.testing.assert_close(ensemble.member_responses(shown), expected)
    torch.testing.assert_close(ensemble.response(shown), expected.mean(0))
    torch.testing.assert_close(
        ensemble.predict(images(3)), shared_core_predict(cores, images(3))[1][:, [3, 1]]
    )
    assert ensemble.readout_pixels().shape == (2, 2)
    with pytest.raises(ValueError, match="member-major"):
        ensemble.mean(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"no shared core holds units \[99\]"):
        shared_core_ensemble(cores, np.array([99]))
    with pytest.raises(ValueError, match=r"units \[99\] are not in the shared core 'session'"):
        shared_core_ensemble(cores, np.array([10, 99]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": ("shared_core",)}, "must list per_neuron"),
        ({"kind": ("per_neuron", "cnn")}, "must list per_neuron"),
        ({"kind": ("per_neuron", "per_neuron")}, "must list per_neuron"),
    ],
)
def test_models_kind_is_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelsSettings(**kwargs)
    assert ModelsSettings(kind=["per_neuron"]).kind == ("per_neuron",)


def test_shared_core_settings_are_checked():
    with pytest.raises(ValueError, match="scope must be 'session' .* or 'area'"):
        SharedCoreSettings(scope="probe")
    assert SharedCoreSettings(scope="area").scope == "area"
    with pytest.raises(ValueError, match="channels must be >= 1"):
        SharedCoreSettings(channels=0)
    architecture = ModelsSettings(shared_core=SharedCoreSettings(channels=8, first_kernel=7))
    assert architecture.shared_core_architecture == dataclasses.replace(
        ArchitectureSettings(), channels=8, first_kernel=7
    )


def test_an_undefined_validation_correlation_keeps_the_initial_state():
    # constant responses: every validation r is NaN, so no epoch is better than the start
    model = network(n_units=2)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    x = images(30, seed=5)
    split = np.array(["train"] * 20 + ["validation"] * 5 + ["test"] * 5)
    settings = TrainingSettings(max_epochs=4, patience=1, max_decays=0)
    result = train_shared_core(
        model, x, torch.full((30, 2), 3.0), torch.ones(30), split, np.ones(2, bool), settings
    )
    assert np.isnan(result.validation_correlation).all() and result.best_epoch == 0
    for name, value in model.state_dict().items():  # the start: the bias at the mean response
        expected = torch.full((2,), 2.0) if name == "bias" else initial[name]  # ELU(2) + 1 = 3
        torch.testing.assert_close(value, expected)


def test_units_without_a_valid_presentation_of_some_scene_are_left_out():
    import xarray as xr

    from meiflow.models.fitting import _units_with_every_frame

    frame = np.array([-1, 0, 1, 2, 0, 1, 2])
    valid = np.ones((7, 3), dtype=bool)
    valid[[2, 5], 1] = False  # unit 11: scene 1 never valid
    valid[3, 2] = False  # unit 12: scene 2 valid once of twice
    counts = xr.Dataset(
        {"valid": (("presentation", "unit"), valid)},
        coords={
            "presentation": np.arange(7),
            "unit": [10, 11, 12],
            "frame": ("presentation", frame),
        },
    )
    np.testing.assert_array_equal(
        _units_with_every_frame(counts, np.array([-1, 0, 1, 2])), [10, 12]
    )
    np.testing.assert_array_equal(
        _units_with_every_frame(counts.drop_vars("valid"), np.array([0, 1])), [10, 11, 12]
    )

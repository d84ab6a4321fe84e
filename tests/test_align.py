"""Weight and activation matching: every architecture's permutation spec leaves the function unchanged, and matching
a network to a permuted copy of itself finds the permutation back exactly, by weights and by activations."""

import copy

import numpy as np
import pytest
import torch
from lossland.align import activation_matching, activation_sites, align, permute, spec_of, weight_matching
from lossland.models import build_model

ARCHITECTURES = [("net", {}), ("resnet20", {"shortcut": "subsample"}), ("resnet20", {"shortcut": "avgpool"}),
                 ("resnet20", {"shortcut": "projection", "conv_bias": True}), ("plainnet20", {}),
                 ("resnet20", {"shortcut": "avgpool", "width": 2})]
IDS = ["net", "resnet20-subsample", "resnet20-avgpool", "resnet20-projection", "plainnet20", "resnet20-avgpool-width2"]


def random_model(name: str, options: dict, seed: int) -> torch.nn.Module:
    """A model with random weights and random BN statistics (so that BN is not the identity), in eval mode."""
    torch.manual_seed(seed)
    model = build_model(name, **options)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
                module.weight.normal_(1.0, 0.2)
                module.bias.normal_()
    return model.eval()


def random_perms(spec, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {name: rng.permutation(units) for name, units in spec.sizes.items()}


def outputs(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)))


def with_state(model: torch.nn.Module, state: dict) -> torch.nn.Module:
    other = copy.deepcopy(model)
    other.load_state_dict(state)
    return other


@pytest.mark.parametrize("name,options", ARCHITECTURES, ids=IDS)
def test_permuting_by_the_spec_keeps_the_function_and_each_axis_it_names_matters(name, options):
    model = random_model(name, options, seed=0)
    spec, state = spec_of(model), model.state_dict()
    perms = random_perms(spec, seed=2)
    permuted = permute(state, spec, perms)
    assert any(not torch.equal(permuted[k], state[k]) for k in state)
    torch.testing.assert_close(outputs(with_state(model, permuted)), outputs(model), rtol=1e-4, atol=1e-4)
    hidden = [(key, axis) for key, axes in spec.axes.items() if key.endswith("weight") and not key.startswith(
        ("bn", "features.3")) for axis, pieces in axes.items() if pieces]
    for key, axis in hidden[:: max(1, len(hidden) // 6)]:  # one tie left out: the function changes
        broken = permute(state, spec, perms, skip=((key, axis),))
        assert not torch.allclose(outputs(with_state(model, broken)), outputs(model), rtol=1e-3, atol=1e-3), key


@pytest.mark.parametrize("name,options", ARCHITECTURES, ids=IDS)
def test_matching_a_permuted_copy_finds_the_permutation_back(name, options):
    model = random_model(name, options, seed=0)
    spec, state = spec_of(model), model.state_dict()
    shuffled = permute(state, spec, random_perms(spec, seed=3))
    perms, passes = weight_matching(state, shuffled, spec, seed=0)
    restored = permute(shuffled, spec, perms)
    assert all(torch.equal(restored[k], state[k]) for k in state) and passes <= 10


def image_batches(count: int = 2, size: int = 16) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    return [torch.randn(size, 3, 32, 32, generator=generator) for _ in range(count)]


@pytest.mark.parametrize("name,options", ARCHITECTURES, ids=IDS)
def test_activation_matching_a_permuted_copy_finds_the_permutation_back(name, options):
    """Every permutation's units are written by some layer (its output, before BN and ReLU, is matched), and the
    correlations of a network's units with a permuted copy's recover the permutation: the inverse of the shuffle."""
    model = random_model(name, options, seed=0)
    spec, state = spec_of(model), model.state_dict()
    shuffle = random_perms(spec, seed=3)
    shuffled = permute(state, spec, shuffle)
    sites = activation_sites(spec)
    assert {piece.perm for pieces in sites.values() for piece in pieces} == set(spec.sizes)
    perms = activation_matching(model, with_state(model, shuffled), spec, image_batches())
    for name_, perm in perms.items():  # shuffled unit i is old unit shuffle[i]: old unit j is back at position j
        np.testing.assert_array_equal(shuffle[name_][perm], np.arange(len(perm)))
    restored = permute(shuffled, spec, perms)
    assert all(torch.equal(restored[k], state[k]) for k in state)


@pytest.mark.parametrize("name,options", ARCHITECTURES[:2] + ARCHITECTURES[3:5], ids=IDS[:2] + IDS[3:5])
def test_activation_aligning_another_network_keeps_its_function_and_raises_the_correlations(name, options):
    a, b = random_model(name, options, seed=0), random_model(name, options, seed=1)
    aligned, found = align(a, b, seed=0, batches=image_batches())
    torch.testing.assert_close(outputs(aligned), outputs(b), rtol=1e-4, atol=1e-4)
    assert found["method"] == "activations" and sum(found["moved"].values()) > 0
    from lossland.align import unit_correlations

    sites = list(activation_sites(spec_of(b)))
    before, after = (sum(np.trace(c) for c in unit_correlations(a, other, sites, image_batches()).values())
                     for other in (b, aligned))
    assert after > before


def distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return float(sum(((p - q) ** 2).sum() for p, q in zip(a.parameters(), b.parameters())).detach())


@pytest.mark.parametrize("name,options", ARCHITECTURES, ids=IDS)
def test_aligning_another_network_keeps_its_function_and_brings_it_closer(name, options):
    a, b = random_model(name, options, seed=0), random_model(name, options, seed=1)
    aligned, found = align(a, b, seed=0)
    torch.testing.assert_close(outputs(aligned), outputs(b), rtol=1e-4, atol=1e-4)
    assert distance(a, aligned) < distance(a, b) and sum(found["moved"].values()) > 0
    assert aligned is not b and torch.equal(next(b.parameters()), next(random_model(name, options, 1).parameters()))


def test_the_barrier_is_the_largest_rise_above_the_line_between_the_ends():
    from lossland.measure import barrier

    alphas = np.linspace(0, 1, 11)
    assert barrier(alphas, 2.0 + 3.0 * alphas) == pytest.approx(0.0, abs=1e-12)  # a straight path: none
    bump = 1.0 + alphas + 4 * alphas * (1 - alphas)  # ends 1 and 2, a parabola of height 1 above their line at 0.5
    assert barrier(alphas, bump) == pytest.approx(1.0)
    bump[3] = np.nan
    assert np.isnan(barrier(alphas, bump))  # a point not finite: unknown


def test_only_the_linear_path_for_an_architecture_without_a_known_permutation_structure():
    from lossland.align import paths_between
    from lossland.models import ResNet, build_custom

    own = [build_custom({"builder": "tests.user_models:small_cnn", "kwargs": {}}, 10) for _ in range(2)]
    ends, found = paths_between(*own)
    assert list(ends) == ["linear"] and ends["linear"] is own[1] and found is None
    # a ResNet from a builder (here one of width 2) is matched like a built-in one
    wide = [build_custom({"builder": "lossland.models:ResNet", "kwargs": {"depth": 20, "width": 2}}, 10).eval()
            for _ in range(2)]
    ends, found = paths_between(*wide)
    assert list(ends) == ["linear", "aligned"] and found["passes"] >= 1
    assert torch.allclose(outputs(ends["aligned"]), outputs(wide[1]), atol=1e-5)
    assert isinstance(ends["aligned"], ResNet) and ends["aligned"].conv1.out_channels == 32


def test_the_table_shows_no_aligned_barrier_where_there_is_none():
    import pandas as pd
    from lossland.connectivity import BARRIERS, markdown, model_table

    rows = [{"model": "mine", "pair": f"seeds{a}-{a + 1}",
             **{k: (None if k.startswith(("aligned", "curve")) else 0.1 * (a + 1)) for k in BARRIERS}} for a in range(2)]
    table = model_table(pd.DataFrame(rows).astype({k: float for k in BARRIERS}))
    assert table["pairs"].tolist() == [2] and table["linear_train_loss"].tolist() == pytest.approx([0.15])
    assert np.isnan(table["aligned_train_loss"][0])
    assert ("| mine | 2 | 0.1500 ± 0.0707 | — | — | 0.1500 ± 0.0707 | — | — | 0.1500 ± 0.0707 | — | — |"
            in markdown(table, {}))

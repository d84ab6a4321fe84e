import torch
from lossland.directions import cosine, direction_seed, random_directions
from lossland.models import build_model


def _model(name="resnet20", seed=0):
    torch.manual_seed(seed)
    return build_model(name)


def test_filters_have_the_norms_of_the_trained_filters_and_1d_entries_are_zero():
    model = _model()
    first, second = random_directions(model, seed=1)
    for name, theta in model.named_parameters():
        for direction in (first[name], second[name]):
            assert direction.shape == theta.shape
            if theta.dim() <= 1:
                assert torch.count_nonzero(direction) == 0, name
            else:
                dims = tuple(range(1, theta.dim()))
                expected = torch.linalg.vector_norm(theta.detach(), dim=dims)
                actual = torch.linalg.vector_norm(direction, dim=dims)
                torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    assert abs(cosine(first, second)) < 0.05  # two independent Gaussian directions are nearly orthogonal


def test_same_seed_same_directions_and_other_seed_or_model_differs():
    model = _model()
    a, b = random_directions(model, direction_seed(0, "resnet20"))
    a2, b2 = random_directions(model, direction_seed(0, "resnet20"))
    assert all(torch.equal(a[k], a2[k]) and torch.equal(b[k], b2[k]) for k in a)
    other_seed, _ = random_directions(model, direction_seed(1, "resnet20"))
    other_model, _ = random_directions(model, direction_seed(0, "plainnet20"))
    assert not torch.equal(a["conv1.weight"], other_seed["conv1.weight"])
    assert not torch.equal(a["conv1.weight"], other_model["conv1.weight"])
    assert not torch.equal(a["conv1.weight"], b["conv1.weight"])

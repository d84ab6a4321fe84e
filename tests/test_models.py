import pytest
import torch
from lossland.models import MODEL_NAMES, BasicBlock, ShortcutA, build_model, count_parameters

EXPECTED_PARAMS = {"net": 655_882, "resnet20": 269_722, "resnet56": 853_018, "resnet110": 1_727_962}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_counts_and_output_shape(name):
    model = build_model(name).eval()
    family_key = name.replace("plainnet", "resnet")
    assert count_parameters(model) == EXPECTED_PARAMS[family_key]
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 10)


@pytest.mark.parametrize("depth,blocks", [(20, 3), (56, 9), (110, 18)])
def test_resnet_and_plainnet_differ_only_by_the_shortcut(depth, blocks):
    torch.manual_seed(0)
    resnet, plainnet = build_model(f"resnet{depth}").eval(), build_model(f"plainnet{depth}").eval()
    assert {k: v.shape for k, v in resnet.state_dict().items()} == {k: v.shape for k, v in plainnet.state_dict().items()}
    plainnet.load_state_dict(resnet.state_dict())
    res_blocks = [m for m in resnet.modules() if isinstance(m, BasicBlock)]
    plain_blocks = [m for m in plainnet.modules() if isinstance(m, BasicBlock)]
    assert len(res_blocks) == len(plain_blocks) == 3 * blocks
    assert all(b.residual for b in res_blocks) and not any(b.residual for b in plain_blocks)
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(resnet(x), plainnet(x))
    for block in res_blocks:  # with the shortcut switched off, the resnet computes the plainnet exactly
        block.residual = False
    assert torch.equal(resnet(x), plainnet(x))


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 32, 32)
    out = ShortcutA(16)(x)
    assert out.shape == (2, 32, 16, 16)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def test_unknown_model_name_is_refused():
    with pytest.raises(ValueError, match="resnet21"):
        build_model("resnet21")

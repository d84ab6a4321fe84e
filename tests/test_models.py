import pytest
import torch
import torch.nn.functional as F
from lossland.errors import UserError
from lossland.models import MODEL_NAMES, BasicBlock, ShortcutA, ShortcutB, build_model, count_parameters

EXPECTED_PARAMS = {"net": 655_882, "resnet20": 269_722, "resnet56": 853_018, "resnet110": 1_727_962}
# conv biases add every conv's output channels: 16 + 2n x (16 + 32 + 64) for depth 6n + 2; the two projections add
# 16x32 + 2x32 and 32x64 + 2x64 (1x1 conv + BN) = 2,752, and 96 biases more
VARIANT_PARAMS = {
    ("resnet20", "avgpool", False): 269_722, ("resnet20", "avgpool", True): 270_410,
    ("resnet20", "projection", False): 272_474, ("resnet20", "projection", True): 273_258,
    ("resnet56", "avgpool", True): 855_050, ("resnet56", "projection", False): 855_770,
    ("resnet110", "avgpool", True): 1_732_010, ("resnet110", "projection", False): 1_730_714,
    ("plainnet56", "projection", True): 855_050, ("plainnet110", "subsample", True): 1_732_010,
}


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


@pytest.mark.parametrize("name,shortcut,conv_bias", list(VARIANT_PARAMS))
def test_parameter_counts_of_each_variant(name, shortcut, conv_bias):
    model = build_model(name, shortcut=shortcut, conv_bias=conv_bias).eval()
    assert count_parameters(model) == VARIANT_PARAMS[name, shortcut, conv_bias]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all((conv.bias is not None) == conv_bias for conv in convs)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def counted_by_hand(depth: int, width: int) -> int:
    """A subsample ResNet's parameters without conv biases, layer by layer: the stem, 3 stages of (depth - 2) / 6
    blocks (two 3x3 convs and two BNs each; a stage's first conv reads the previous stage's channels), the linear."""
    n, c = (depth - 2) // 6, 16 * width
    total = 3 * 9 * c + 2 * c
    for stage, planes in enumerate((c, 2 * c, 4 * c)):
        first_in = planes if stage == 0 else planes // 2
        total += 9 * first_in * planes + 9 * planes * planes + 4 * planes
        total += (n - 1) * (18 * planes * planes + 4 * planes)
    return total + 4 * c * 10 + 10


@pytest.mark.parametrize("depth", [20, 56])
@pytest.mark.parametrize("width", [1, 2, 4])
def test_width_multiplies_every_stages_channels(depth, width):
    model = build_model(f"resnet{depth}", width=width).eval()
    assert count_parameters(model) == counted_by_hand(depth, width)
    if width == 1:
        assert count_parameters(model) == EXPECTED_PARAMS[f"resnet{depth}"]
    convs = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sorted(set(convs)) == [16 * width, 32 * width, 64 * width]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    plain = build_model(f"plainnet{depth}", width=width)
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_width_is_a_variant_key_only_where_it_changes_the_network():
    from lossland.config import describe, relevant_settings, variant

    assert variant("resnet20", {"width": 2, "shortcut": "avgpool"}) == {"shortcut": "avgpool", "conv_bias": False,
                                                                      "width": 2}
    assert describe("plainnet56", {"width": 4}) == "plainnet56 (conv_bias=False, width=4)"
    assert "width" not in variant("resnet20", {"width": 1}) and variant("net", {"width": 2}) == {}
    # width 1 is today's network and Net has no width: neither retrains anything
    assert relevant_settings("resnet20", {"width": 1, "lr": 0.1}) == {"lr": 0.1}
    assert relevant_settings("net", {"width": 2, "lr": 0.1}) == {"lr": 0.1}
    assert relevant_settings("plainnet20", {"width": 2}) == {"width": 2}
    with pytest.raises(ValueError, match="width must be a whole number >= 1, got 0"):
        build_model("resnet20", width=0)


def test_average_pool_shortcut_averages_2x2_and_zero_pads():
    x = torch.randn(2, 16, 32, 32)
    out = ShortcutA(16, pool=True)(x)
    averaged = (x[:, :, 0::2, 0::2] + x[:, :, 1::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 1::2]) / 4
    torch.testing.assert_close(out[:, 8:24], averaged)
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


@pytest.mark.parametrize("shortcut", ["subsample", "avgpool", "projection"])
def test_downsampling_block_computes_its_shortcut_variant(shortcut):
    torch.manual_seed(0)
    model = build_model("resnet20", shortcut=shortcut, conv_bias=True).eval()
    block = model.layer2[0]
    for bn in [m for m in block.modules() if isinstance(m, torch.nn.BatchNorm2d)]:
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 16, 32, 32)

    def conv_bn(conv, bn, inputs):  # written out with functional ops, independent of the modules' forward
        out = F.conv2d(inputs, conv.weight, conv.bias, conv.stride, conv.padding)
        return F.batch_norm(out, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)

    main = conv_bn(block.conv2, block.bn2, F.relu(conv_bn(block.conv1, block.bn1, x)))
    if shortcut == "projection":
        assert isinstance(block.shortcut, ShortcutB) and block.shortcut.conv1.kernel_size == (1, 1)
        identity = conv_bn(block.shortcut.conv1, block.shortcut.bn1, x)
    else:
        halved = F.avg_pool2d(x, 2) if shortcut == "avgpool" else x[:, :, ::2, ::2]
        identity = torch.cat([torch.zeros_like(halved[:, :8]), halved, torch.zeros_like(halved[:, :8])], 1)
    torch.testing.assert_close(block(x.clone()), F.relu(main + identity))


def test_plainnets_have_no_shortcut_whatever_the_variant():
    plain = build_model("plainnet20", shortcut="projection")
    assert count_parameters(plain) == EXPECTED_PARAMS["resnet20"]
    assert not any(isinstance(m, (ShortcutA, ShortcutB)) for m in plain.modules())


def test_unknown_model_name_is_refused():
    with pytest.raises(UserError, match="resnet21"):
        build_model("resnet21")

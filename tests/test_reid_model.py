"""ReID network pieces: widened first convolution, heads, sampler, losses."""
import numpy as np
import pytest
import torch
import torchvision

from train.reid.losses import ReidLoss, batch_hard_triplet_loss
from train.reid.model import ReidArch, ReidNet, widen_first_conv
from train.reid.samplers import PKBatchSampler


@pytest.mark.parametrize("extra", [36, 13])
def test_widening_densenet121_keeps_rgb_filters_exactly(extra):
    net = torchvision.models.densenet121(weights=None)
    rgb = net.features.conv0.weight.detach().clone()
    name = widen_first_conv(net, extra)
    assert name == "features.conv0"
    wide = net.features.conv0.weight.detach()
    assert wide.shape == (64, 3 + extra, 7, 7)
    assert torch.equal(wide[:, :3], rgb)
    new = wide[:, 3:]
    assert 0.015 < float(new.std()) < 0.025 and abs(float(new.mean())) < 0.005
    x = torch.randn(1, 3 + extra, 64, 64)
    net.eval()
    # The widened net computes the RGB net's function plus the new channels' own contribution.
    direct = torch.nn.functional.conv2d(x[:, :3], rgb, stride=2, padding=3)
    assert torch.allclose(net.features.conv0(torch.cat([x[:, :3], torch.zeros_like(x[:, 3:])], 1)), direct, atol=1e-5)


def test_widening_timm_backbone_keeps_rgb_filters():
    import timm

    net = timm.create_model("resnet18", pretrained=False, num_classes=0)
    rgb = net.conv1.weight.detach().clone()
    assert widen_first_conv(net, 13) == "conv1"
    assert net.conv1.in_channels == 16 and torch.equal(net.conv1.weight[:, :3].detach(), rgb)
    assert net(torch.randn(2, 16, 64, 64)).shape == (2, 512)


@pytest.mark.parametrize("backbone", ["densenet_tiny", "resnet18"])
def test_reid_net_heads_and_inputs(backbone):
    arch = ReidArch(backbone, inputs="heatmaps", keypoints=True, multitask=True, num_identities=7)
    net = ReidNet(arch, pretrained=False)
    out = net(torch.randn(3, 39, 64, 64), torch.rand(3, 108) - 0.5)
    assert out["feature"].shape == (3, 1024) and out["id_logits"].shape == (3, 7)
    assert out["color_logits"].shape == (3, 10) and out["type_logits"].shape == (3, 9)
    # Keypoints reach the features: changing them changes the output.
    kp = torch.rand(3, 108) - 0.5
    net.eval()
    x = torch.randn(3, 39, 64, 64)
    assert not torch.allclose(net(x, kp)["feature"], net(x, kp + 0.3)["feature"])
    with pytest.raises(ValueError, match="input channels"):
        net(torch.randn(1, 3, 64, 64), kp[:1])
    plain = ReidNet(ReidArch(backbone, num_identities=7), pretrained=False)
    out = plain(torch.randn(2, 3, 64, 64))
    assert set(out) == {"feature", "triplet_feature", "id_logits"} and out["triplet_feature"] is out["feature"]


def test_bnneck_normalises_the_retrieval_feature_and_leaves_the_triplet_its_input():
    torch.manual_seed(0)
    arch = ReidArch("densenet_tiny", num_identities=5, bnneck=True)
    net = ReidNet(arch, pretrained=False)
    assert net.id_classifier.bias is None and not net.neck.bias.requires_grad
    out = net(torch.randn(8, 3, 64, 64))
    before, after = out["triplet_feature"], out["feature"]
    # training mode: each dimension of the retrieval feature is the batch-normalised triplet feature
    expected = (before - before.mean(0)) / torch.sqrt(before.var(0, unbiased=False) + net.neck.eps)
    torch.testing.assert_close(after, expected * net.neck.weight, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out["id_logits"], net.id_classifier(after))
    # the triplet term takes the feature before the neck: its gradient reaches it, not the neck
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    _, parts = ReidLoss("htri")(out, {"pid": labels, "color_id": labels, "type_id": labels})
    assert parts["htri"] == pytest.approx(float(batch_hard_triplet_loss(before.detach(), labels)), rel=1e-6)
    # the option is part of the signature only when on, so checkpoints from before it still load
    assert arch.signature()["bnneck"] is True and "bnneck" not in ReidArch("densenet_tiny", num_identities=5).signature()


def test_pk_sampler_batches_and_ddp_split():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(20), rng.integers(1, 12, 20))
    sampler = PKBatchSampler(ids, p=4, k=3, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 3
    for batch in batches:
        assert len(batch) == 12
        counts = np.unique(ids[batch], return_counts=True)[1]
        assert len(counts) == 4 and np.all(counts == 3)
    # An identity with >= K images contributes each image at most once per epoch.
    flat = np.concatenate(batches)
    big = [i for i in range(20) if np.sum(ids == i) >= 3]
    for i in big:
        taken = flat[ids[flat] == i]
        assert len(taken) == len(set(taken.tolist()))
    # DDP: ranks see disjoint batches of the same epoch, equally many, and the epoch changes the order.
    ranks = [list(PKBatchSampler(ids, 4, 3, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(batches) // 2
    assert ranks[0] + ranks[1] != [] and all(b in batches for b in ranks[0] + ranks[1])
    assert not any(b in ranks[1] for b in ranks[0])
    sampler.set_epoch(1)
    assert list(sampler) != batches
    with pytest.raises(ValueError, match="at least P=8 identities"):
        PKBatchSampler(np.arange(5), p=8, k=4)


def test_batch_hard_triplet_loss():
    labels = torch.tensor([0, 0, 1, 1])
    separated = torch.tensor([[0.0, 0], [0.1, 0], [5, 0], [5.1, 0]])
    assert float(batch_hard_triplet_loss(separated, labels, 0.3)) == 0.0
    mixed = torch.tensor([[0.0, 0], [5, 0], [0.1, 0], [5.1, 0]])
    # Anchor 0: hardest positive at 5, hardest negative at 0.1 -> 5.2 with margin 0.3.
    loss = batch_hard_triplet_loss(mixed, labels, 0.3)
    assert float(loss) == pytest.approx(0.3 + 5.0 - 0.1, abs=1e-4)


def test_reid_loss_terms_and_unknown_attributes():
    torch.manual_seed(0)
    out = {
        "feature": torch.randn(4, 8, requires_grad=True), "id_logits": torch.randn(4, 3, requires_grad=True),
        "color_logits": torch.randn(4, 10, requires_grad=True), "type_logits": torch.randn(4, 9, requires_grad=True),
    }
    batch = {"pid": torch.tensor([0, 0, 1, 1]), "color_id": torch.tensor([0, 0, 0, 0]), "type_id": torch.tensor([1, 2, 0, 9])}
    total, parts = ReidLoss("xent+htri")(out, batch)
    assert set(parts) == {"xent", "htri", "color", "type"} and parts["color"] == 0.0  # all colours unknown
    expected = parts["xent"] + parts["htri"] + 0.125 * parts["type"]
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)
    total.backward()
    assert set(ReidLoss("htri")(out, batch)[1]) == {"htri", "color", "type"}
    with pytest.raises(ValueError):
        ReidLoss("softmax")


def test_densenet121_loads_imagenet_style_weights_file(tmp_path):
    """A weights file in torchvision's published layout (old 'norm.1' key names) loads into the backbone."""
    from train.reid.model import build_backbone

    reference = torchvision.models.densenet121(weights=None).state_dict()
    old_style = {k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2.") if "denselayer" in k else k: v
                 for k, v in reference.items()}
    assert any("norm.1." in k for k in old_style)
    torch.save(old_style, tmp_path / "densenet121.pth")
    backbone = build_backbone("densenet121", weights_path=tmp_path / "densenet121.pth")
    loaded = backbone.features.state_dict()
    assert torch.equal(loaded["denseblock1.denselayer1.norm1.weight"], reference["features.denseblock1.denselayer1.norm1.weight"])
    assert torch.equal(loaded["conv0.weight"], reference["features.conv0.weight"])
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_backbone("densenet121", weights_path=tmp_path / "missing.pth")

"""The plain nets: sizes come from the data, never from hand-computed constants."""

from __future__ import annotations

import pytest
import torch

from my_project.nets.cnn import SimpleCNN
from my_project.nets.mlp import MLP


@pytest.mark.parametrize(("channels", "size"), [(1, 8), (1, 28), (3, 32)])
def test_simple_cnn_adapts_to_image_shape(channels, size):
    net = SimpleCNN(in_channels=channels, image_size=size, num_classes=10, channels=[8, 16])
    assert net(torch.randn(5, channels, size, size)).shape == (5, 10)


@pytest.mark.parametrize(
    ("data", "shape"),
    [
        ("digits", (1, 8, 8)),
        ("mnist", (1, 28, 28)),
        ("fashion_mnist", (1, 28, 28)),
        ("cifar10", (3, 32, 32)),
    ],
)
def test_cnn_experiment_fits_each_image_data_set_through_data_alone(tmp_path, data, shape):
    """`+experiment=cnn data=NAME`: the net's sizes follow the data config, nothing else."""
    from conftest import compose_train
    from hydra.utils import instantiate

    cfg = compose_train(tmp_path / "run", ["+experiment=cnn", f"data={data}"])
    assert (cfg.data.in_channels, cfg.data.image_size, cfg.data.image_size) == shape
    net = instantiate(cfg.model.net)
    assert net(torch.randn(3, *shape)).shape == (3, 10)


def test_simple_cnn_refuses_images_too_small_for_its_pooling():
    with pytest.raises(ValueError, match="at least 8 pixels"):
        SimpleCNN(in_channels=1, image_size=4, num_classes=10, channels=[8, 8, 8])


def test_mlp_shapes_and_dropout():
    net = MLP(in_features=13, out_features=3, hidden_sizes=[16, 8], dropout=0.5)
    assert net(torch.randn(4, 13)).shape == (4, 3)
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 2
    assert MLP(5, 1, hidden_sizes=[])(torch.randn(2, 5)).shape == (2, 1)

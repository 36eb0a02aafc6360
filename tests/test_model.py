"""Network A / siamese Network B structure."""
import numpy as np
import pytest

from deepdrim.model import build_model


def _weights_of(model, prefix):
    return sum(int(np.prod(w.shape)) for layer in model.layers if layer.name.startswith(prefix)
               for w in layer.weights)


@pytest.mark.parametrize("n", [0, 1, 10])
def test_builds_with_expected_input_and_output(n):
    model = build_model(n)
    channels = 2 * n + 3 if n else 1
    assert model.input_shape == (None, channels, 32, 32)
    assert model.output_shape == (None, 1)
    out = model.predict(np.zeros((2, channels, 32, 32), dtype=np.float32), verbose=0)
    assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))


def test_network_b_shares_one_set_of_weights_whatever_n():
    sizes = {n: build_model(n).get_layer("siamese").count_params() for n in (1, 2, 10)}
    assert len(set(sizes.values())) == 1  # one tower's weights, shared by all 2n+2 images
    model = build_model(10)
    tower_a = model.get_layer("network_a").count_params()
    assert sizes[10] == tower_a  # same architecture, separate weights
    # only the first dense layer grows with n (the concatenated embedding is 512 x (2n+3))
    d1, d10 = build_model(1).get_layer("dense0"), model.get_layer("dense0")
    assert d1.kernel.shape == (512 * 5, 512) and d10.kernel.shape == (512 * 23, 512)


def test_n0_is_network_a_only():
    model = build_model(0)
    names = [layer.name for layer in model.layers]
    assert "network_a" in names and "siamese" not in names


def test_reference_tower_layout():
    tower = build_model(0).get_layer("network_a")
    convs = [layer for layer in tower.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 32, 64, 64, 128, 128]
    assert [c.padding for c in convs] == ["same", "valid"] * 3
    assert tower.output_shape == (None, 512)
    assert tower.layers[-1].activation.__name__ == "linear"

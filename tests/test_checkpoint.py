import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from albert_edge import AlbertConfig, AlbertForSequenceClassification, load_pretrained
from hf_folders import TINY


def test_config_json_round_trip_keeps_unknown_keys(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                **TINY,
                "model_type": "albert",
                "torch_dtype": "float32",
                "id2label": {"0": "neg", "1": "pos"},
                "my_key": [1, 2],
            }
        )
    )
    config = AlbertConfig.load(tmp_path)
    assert config.label2id == {"neg": 0, "pos": 1} and config.num_labels == 2
    config.save(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["my_key"] == [1, 2] and data["torch_dtype"] == "float32" and data["model_type"] == "albert"


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(hidden_size=30), "not divisible by num_attention_heads"),
        (dict(num_hidden_groups=2), "does not divide num_hidden_layers"),
        (dict(hidden_act="swish"), "unknown hidden_act 'swish'; expected one of gelu, gelu_new, relu"),
        (dict(vocab_size=0), "vocab_size must be a positive integer"),
        (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob must be in"),
    ],
)
def test_config_validation_says_what_to_change(change, message):
    with pytest.raises(ValueError, match=message):
        AlbertConfig(**{**TINY, **change})


def test_wrong_model_type_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type 'bert'; albert-edge only handles 'albert'"):
        load_pretrained(tmp_path)


def saved(tmp_path):
    model = AlbertForSequenceClassification(AlbertConfig(**TINY))
    model.save_pretrained(tmp_path)
    return model


def test_missing_weights_file_is_named(tmp_path):
    saved(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no model.safetensors or pytorch_model.bin in"):
        load_pretrained(tmp_path)


def test_missing_folder_and_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretrained(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="config.json not found"):
        load_pretrained(tmp_path)


def test_wrong_keys_and_shapes_are_named(tmp_path):
    saved(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["albert.pooler.weight"] = torch.zeros(3, 3)
    del state["classifier.bias"]
    state["extra.weight"] = torch.zeros(1)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError) as err:
        load_pretrained(tmp_path)
    text = str(err.value)
    assert "missing keys: classifier.bias" in text
    assert "unexpected keys: extra.weight" in text
    assert "shape mismatch for albert.pooler.weight: checkpoint (3, 3), config expects (32, 32)" in text


def test_corrupt_safetensors_is_a_clear_error(tmp_path):
    saved(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        load_pretrained(tmp_path)


def test_pytorch_bin_is_read_weights_only(tmp_path):
    model = saved(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    loaded = load_pretrained(tmp_path)
    torch.testing.assert_close(loaded.classifier.weight, model.classifier.weight)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="could not be read as weights only"):
        load_pretrained(tmp_path)

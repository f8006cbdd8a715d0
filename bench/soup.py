"""A "model soup": the uniform average of the weights of fine-tuned runs that started from one pretrained encoder.

    .venv/bin/python -m bench.soup runs/soup3 runs/ftpt3c runs/ftpt3c_s1 runs/ftpt3c_s2
    .venv/bin/albert-edge eval runs/soup3 --split dev

Writes OUT as a copy of the first run (config, tokenizer, metrics) with the averaged model.safetensors. Tried for
the default model (docs/model-card.md, row soup3); averaging only makes sense for runs of one shape and one init.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def main(out: Path, runs: list[Path]) -> None:
    if len(runs) < 2:
        raise SystemExit("usage: soup.py OUT RUN RUN [RUN...]: give at least two fine-tuned run folders")
    states = [load_file(run / "model.safetensors") for run in runs]
    if any(state.keys() != states[0].keys() for state in states):
        raise SystemExit("the runs have different parameters; average only runs of one shape")
    shutil.copytree(runs[0], out, dirs_exist_ok=True)
    average = {name: sum(state[name].double() for state in states) / len(states) for name in states[0]}
    save_file(
        {name: value.to(states[0][name].dtype).contiguous() for name, value in average.items()},
        out / "model.safetensors",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(arg) for arg in sys.argv[2:]])

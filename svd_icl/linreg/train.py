"""Training loop with a curriculum, safetensors checkpoints and exact resumption.

State lives in a directory: ``last.safetensors`` (weights), ``last_optimizer.safetensors`` (Adam moments),
``state.json`` (step, configs, loss history) and ``step_<s>.safetensors`` for the steps kept for Fig. 5b.
Everything is loaded with ``safetensors`` (no pickle). Batches are drawn from ``generator(seed, step)``, so a run
interrupted at step s and resumed continues with exactly the batches an uninterrupted run would have used.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from svd_icl.linreg.data import generator, sample
from svd_icl.linreg.model import LinRegConfig, LinRegTransformer


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 5000
    batch: int = 64  # Garg et al.
    lr: float = 1e-4  # Garg et al.; small models on a CPU budget train faster with 1e-3
    seed: int = 0
    curriculum_interval: int = 0  # every this many steps: +1 dimension, +2 points (Garg: 2000; 0: no curriculum)
    dims_start: int | None = None  # curriculum start (Garg: 5 for d = 20)
    points_start: int | None = None  # curriculum start (Garg: 11 for 41 points)
    noise_std: float = 0.0
    checkpoint_every: int = 500
    keep_steps: tuple[int, ...] = ()  # checkpoints kept for Fig. 5b


def curriculum(cfg: LinRegConfig, tc: TrainConfig, step: int) -> tuple[int, int]:
    """(active dimensions, prompt points) at ``step``."""
    if tc.curriculum_interval <= 0:
        return cfg.d, cfg.n_points
    grown = step // tc.curriculum_interval
    dims = min(cfg.d, (tc.dims_start or cfg.d) + grown)
    points = min(cfg.n_points, (tc.points_start or cfg.n_points) + 2 * grown)
    return dims, points


def _save_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    flat = {}
    for idx, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            flat[f"{idx}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    save_file(flat, str(path))


def _load_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    flat = load_file(str(path))
    state: dict[int, dict] = {}
    for key, value in flat.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)


def load_checkpoint(directory: str | Path, step: int | None = None) -> LinRegTransformer:
    """The model saved in ``directory`` (the last one, or the one kept at ``step``)."""
    directory = Path(directory)
    meta = json.loads((directory / "state.json").read_text())
    model = LinRegTransformer(LinRegConfig(**meta["model"]))
    name = "last.safetensors" if step is None else f"step_{step}.safetensors"
    path = directory / name
    if not path.exists():
        kept = sorted(p.name for p in directory.glob("step_*.safetensors"))
        raise FileNotFoundError(f"no checkpoint {path}; kept: {', '.join(kept) or 'none'}")
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def train(cfg: LinRegConfig, tc: TrainConfig, directory: str | Path, progress: bool = True) -> dict:
    """Train (or resume training) into ``directory``; returns the state (step, loss history)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tc.seed)
    model = LinRegTransformer(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr)
    state = {"step": 0, "model": cfg.to_dict(), "train": asdict(tc), "losses": []}
    meta_path = directory / "state.json"
    if meta_path.exists():
        saved = json.loads(meta_path.read_text())
        if saved["model"] != cfg.to_dict() or saved["train"] != json.loads(json.dumps(asdict(tc))):
            raise ValueError(f"{directory} holds a run with other settings; use another directory")
        state = saved
        model.load_state_dict(load_file(str(directory / "last.safetensors")))
        _load_optimizer(opt, directory / "last_optimizer.safetensors")
    model.train()
    bar = tqdm(
        range(state["step"], tc.steps),
        initial=state["step"],
        total=tc.steps,
        disable=not progress,
        desc="train",
        mininterval=5,
    )
    for step in bar:
        dims, points = curriculum(cfg, tc, step)
        xs, ys, _ = sample(tc.batch, points, cfg.d, generator(tc.seed, step), dims, tc.noise_std)
        loss = ((model(xs, ys) - ys) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        state["losses"].append(round(float(loss.detach()), 5))
        done = step + 1
        if done in tc.keep_steps:
            save_file(model.state_dict(), str(directory / f"step_{done}.safetensors"))
        if done % tc.checkpoint_every == 0 or done == tc.steps:
            state["step"] = done
            save_file(model.state_dict(), str(directory / "last.safetensors"))
            _save_optimizer(opt, directory / "last_optimizer.safetensors")
            meta_path.write_text(json.dumps(state))
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return state

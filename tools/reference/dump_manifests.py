"""Writes weights/manifests/<config>.json: every tensor of the official state_dict (name, shape, dtype) and
the model's configuration, for the 8 official configs, built through the official builder."""
import json
import os
import sys

import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import synthetic  # noqa: E402

CONFIGS = synthetic.CONFIG_FILES


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    if not GlobalHydra.instance().is_initialized():
        initialize_config_module("sam2", version_base="1.2")
    for name, cfg_file in CONFIGS.items():
        cfg = compose(config_name=cfg_file)
        OmegaConf.resolve(cfg)
        model = instantiate(cfg.model, _recursive_=True)
        tensors = [
            {"name": k, "shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
            for k, v in model.state_dict().items()
        ]
        doc = {
            "config": name,
            "config_file": cfg_file,
            "model": OmegaConf.to_container(cfg.model, resolve=True),
            "num_params": int(sum(t.numel() for t in model.state_dict().values())),
            "tensors": tensors,
        }
        path = os.path.join(out_dir, f"{name}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(path + ".tmp", path)
        print(f"{name}: {len(tensors)} tensors, {doc['num_params']:,} params -> {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "weights", "manifests"))

"""Training throughput with 1 vs N data-parallel processes (torchrun + DistributedDataParallel).

    DATABASE_URL=sqlite:///bench.db python benchmarks/train_scaling.py [--nproc 1 2] [--epochs 3] [--device cpu]
    # on a GPU box: python benchmarks/train_scaling.py --device cuda --nproc 1 2 4 8 [--config configs/redial_acfl.yaml]

Each setting runs `lumicrs train` on --config (default configs/redial_acfl_frozen.yaml: the head's epochs, which is
what the shipped model's fine-tuned encoder adds one long epoch to) with early stopping off and fixed epochs, under
`torchrun --standalone --nproc_per_node N`, and reads the per-epoch wall time the trainer records in the run's
history. CPU: every process gets cores / N threads (OMP_NUM_THREADS), so 1 x 2 threads is compared with 2 x 1.
Prints seconds per epoch (median over epochs after the first), samples/s and the speed-up over one process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run_once(base: Path, nproc: int, epochs: int, device: str, threads: int) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "scaling.yaml"
        values = yaml.safe_load(base.read_text())
        values.update(name=f"scaling-{nproc}", epochs=epochs, patience=epochs + 1, device=device,
                      output_dir=f"{tmp}/runs")
        config.write_text(yaml.safe_dump(values))
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   str(REPO / "lumicrs_cli.py"), "train", "--config", str(config), "--json", "--quiet", "--force",
                   "--replace"]  # the output folder is a new temporary one each time: run again, replace the last run
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"nproc {nproc} failed:\n{done.stderr[-3000:]}")
        payload = json.loads(done.stdout[done.stdout.index("{"):])
        return [h for h in payload["history"] if "seconds" in h]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "redial_acfl_frozen.yaml")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = []
    for nproc in args.nproc:
        threads = max(1, cores // nproc) if args.device == "cpu" else 1
        history = run_once(args.config, nproc, args.epochs, args.device, threads)
        steady = history[1:] or history
        seconds = statistics.median(h["seconds"] for h in steady)
        rows.append((nproc, threads, seconds, statistics.median(h["samples_per_second"] for h in steady)))
        print(f"nproc {nproc} x {threads} thread(s): {seconds:.1f} s/epoch, {rows[-1][3]:.0f} samples/s", flush=True)
    base = rows[0][2]
    print(f"{'processes':>9} {'threads':>7} {'s/epoch':>8} {'samples/s':>10} {'speed-up':>8}")
    for nproc, threads, seconds, rate in rows:
        print(f"{nproc:>9} {threads:>7} {seconds:>8.1f} {rate:>10.0f} {base / seconds:>8.2f}")


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)

#!/usr/bin/env bash
# The GPU check, under 5 minutes: the tests marked `gpu`, the training-step throughput on
# CUDA (ours, with the shipped items readout and with the mask readout, against the naive
# formulation, bf16; the sampled loss at batch 1024, issue 31), and full-ranking evaluation time for the anime data and ml-1m. Usage: benchmarks/gpu_check.sh [path/to/ml-1m.txt]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
ML1M=${1:-../shared/data/bench/ml-1m/ml-1m.txt}
"$PY" -c "import torch, sys; torch.cuda.is_available() or sys.exit('no CUDA device: nothing to check'); print(torch.cuda.get_device_name(0), torch.__version__)"
"$PY" -m pytest -q -n 0 -m gpu tests   # one process: one CUDA context
"$PY" benchmarks/train_throughput.py --device cuda --steps 20
"$PY" benchmarks/train_throughput.py --device cuda --steps 20 --readout mask
"$PY" benchmarks/train_throughput.py --device cuda --steps 20 --batch 1024
"$PY" benchmarks/train_throughput.py --device cuda --steps 20 --batch 1024 --loss sampled --negatives 1024
"$PY" benchmarks/eval_time.py --device cuda --ml1m "$ML1M"

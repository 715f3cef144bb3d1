#!/usr/bin/env bash
# The newest PyTorch from PyPI as a benchmark peer, in its own virtual environment (bench/.venv, ignored by git):
# never needed to build or test edat. Debian's python3-torch (1.13) is the other peer, outside it.
#
#   bash bench/setup_peer_venv.sh          # then: bench/.venv/bin/python bench/resnet_train_step.py ...
#
# Pinned so that a benchmark table names what it ran against; PyPI's Linux wheels of torch bring NVIDIA's CUDA
# libraries along (several GB), which a CPU benchmark does not load.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
torch_version=2.15.0
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/pip install --quiet "torch==$torch_version" torchvision
.venv/bin/python -c "import torch, torchvision; print('peer venv: torch', torch.__version__, 'torchvision', \
torchvision.__version__, '|', torch.__config__.show().splitlines()[0].strip())"

#!/usr/bin/env bash
# Label Studio lives in its own venv (it pins openai<2, which clashes with ours).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-labelstudio/bin/label-studio ]; then
  python3 -m venv .venv-labelstudio
  .venv-labelstudio/bin/python -m pip install -q --upgrade pip
  .venv-labelstudio/bin/python -m pip install -q "label-studio==1.23.2"
fi

# Sourced by cpu.sh and gpu-prepare.sh: `py`, the trainer's Python (target/pyenv), made with
# its pinned CPU dependencies where it is missing (as scripts/test.sh does).
py="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/pyenv/bin/python"
[ -x "$py" ] || python3 -m venv "${py%/bin/python}"
"$py" -c "import jax, safetensors" 2>/dev/null ||
    "$py" -m pip install --quiet --disable-pip-version-check \
        -r "$(dirname "${BASH_SOURCE[0]}")/requirements-ci.txt"

# Sourced by the scripts that use the Python package (python-tests.sh, notebooks.sh,
# bench/python_api.sh), from the repository root.
# python_venv DIR PACKAGE...: creates the venv DIR once, with maturin and PACKAGE...
# develop_package DIR [MATURIN-ARGS...]: builds the package into DIR with `maturin develop` on
# the workspace's target directory (CARGO_TARGET_DIR), so the engine is not compiled again.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"

python_venv() {
    local venv=$1
    shift
    if [ ! -x "$venv/bin/maturin" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2" "$@"
    fi
}

develop_package() {
    local venv
    venv=$(cd "$1" && pwd)
    shift
    (cd python && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --locked "$@")
}

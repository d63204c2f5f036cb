#!/usr/bin/env bash
# test_mmf_python_live: regenerate the MMF statistics fixture with the Python originals
# installed here (/usr/bin/python3: pandas, statsmodels, scikit-learn) and compare the C
# code with it, so the committed fixture cannot drift from the libraries it claims to copy.
# Skips (77) only when the Python packages are missing (scripts/install_deps.sh installs them).
set -u
PY=/usr/bin/python3
if ! $PY -c "import pandas, statsmodels, sklearn" 2>/dev/null; then
    echo "skip: /usr/bin/python3 lacks pandas/statsmodels/sklearn (scripts/install_deps.sh)"; exit 77; fi
TMP=$(mktemp -d "${DEEPLOB_BUILD:-/tmp}/test_mmf_py.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
$PY -W ignore "$DEEPLOB_SRC/tests/ref/mmf_stats_ref.py" "$TMP/ref.json" || { echo "FAIL: reference script"; exit 1; }
"$DEEPLOB_BUILD/test_mmf_stats" "$TMP/ref.json"

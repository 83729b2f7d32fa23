#!/usr/bin/env bash
# CI check of the double-click app: build it with PyInstaller, then run the frozen binary
# from a clean environment (no venv, no project on any path) and check what it does.
#
#   bash packaging/ci_frozen_check.sh [OUTDIR]
#
# PYTHON (default: .venv/bin/python, else python3) is the interpreter that has the app's
# dependencies and PyInstaller. OUTDIR (default: a new temporary folder) receives
# dist/ecgviewer/, the build folder, a clean HOME, selftest.txt and frozen-screenshot.png.
# Steps, each timed:
#   1. python packaging/build.py --no-archive       (PyInstaller, ~1.5 min on 2 cores)
#   2. env -i PATH=/usr/bin:/bin HOME=... QT_QPA_PLATFORM=offscreen ecgviewer --self-test
#   3. the same env: ecgviewer info / predict / explain --png on the bundled example exam
#   4. the same env: ecgviewer --screenshot OUT.png, then packaging/check_png.py OUT.png
# Exits non-zero at the first failure, printing which step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/ecgviewer-frozen-XXXXXX")}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
APP=$OUT/dist/ecgviewer/ecgviewer
CLEAN_HOME=$OUT/home
rm -rf "$CLEAN_HOME" && mkdir -p "$CLEAN_HOME"
T_ALL=$(date +%s)

step() { echo "== frozen check: $*"; }
elapsed() { echo "   ($(( $(date +%s) - $1 )) s)"; }
frozen() {  # run the frozen binary with nothing from the build environment
    env -i PATH=/usr/bin:/bin HOME="$CLEAN_HOME" QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 "$APP" "$@"
}
fail() { echo "frozen check FAILED: $*" >&2; exit 1; }

step "build ($PYTHON packaging/build.py --no-archive → $OUT/dist)"
T=$(date +%s)
nice -n "${NICE:-0}" "$PYTHON" packaging/build.py --no-archive --dist "$OUT/dist" --work "$OUT/build" \
    || fail "PyInstaller build"
elapsed "$T"
echo "   dist/ecgviewer: $(du -sh "$OUT/dist/ecgviewer" | cut -f1)"

step "self-test of the frozen binary (clean environment)"
T=$(date +%s)
frozen --self-test 2>&1 | tee "$OUT/selftest.txt" || fail "ecgviewer --self-test (output above)"
elapsed "$T"

step "frozen CLI subcommands"
T=$(date +%s)
EXAMPLE=$OUT/dist/ecgviewer/_internal/resources/example/example_exam.hea
[ -f "$EXAMPLE" ] || fail "the bundled example exam is missing: $EXAMPLE"
frozen --version || fail "ecgviewer --version"
frozen info "$EXAMPLE" || fail "ecgviewer info"
frozen predict "$EXAMPLE" --out "$OUT/predict.csv" || fail "ecgviewer predict"
[ -s "$OUT/predict.csv" ] || fail "ecgviewer predict wrote no CSV"
head -3 "$OUT/predict.csv"
# a small SHAP run drawn with matplotlib's Agg backend (the frozen app ships only that backend)
frozen explain "$EXAMPLE" --out "$OUT/explain.npz" --png "$OUT/explain.png" --segments 8 --max-evals 16 \
    --quiet || fail "ecgviewer explain --png"
[ -s "$OUT/explain.png" ] || fail "ecgviewer explain wrote no PNG"
elapsed "$T"

step "screenshot from the frozen binary (offscreen)"
T=$(date +%s)
rm -f "$OUT/frozen-screenshot.png"
frozen --screenshot "$OUT/frozen-screenshot.png" || fail "ecgviewer --screenshot"
"$PYTHON" packaging/check_png.py "$OUT/frozen-screenshot.png" || fail "the screenshot is trivial"
elapsed "$T"

rm -rf "$OUT/build"
echo "frozen check passed in $(( $(date +%s) - T_ALL )) s; screenshot: $OUT/frozen-screenshot.png"

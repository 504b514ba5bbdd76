#!/bin/sh
# Fills the fuzz corpora with the fixture models and, when present, the zoo
# models in ../shared/models (or $TFLM_SHARED_MODELS). Only files up to
# 64 KiB: the runs use -max_len=65536, and libFuzzer would cut longer
# models short, which makes them useless as seeds. Files are named by
# their SHA-1, like libFuzzer's own, so running this twice adds nothing.
set -eu
cd "$(dirname "$0")"
zoo=${TFLM_SHARED_MODELS:-../../../shared/models}
max=65536

add() { # corpus-dir file...
    dir=$1
    shift
    mkdir -p "$dir"
    for f in "$@"; do
        [ -f "$f" ] && [ "$(wc -c <"$f")" -le "$max" ] || continue
        cp "$f" "$dir/$(sha1sum "$f" | cut -d' ' -f1)"
    done
}

for target in read_model run_model fast_vs_reference; do
    add "corpus/$target" ../../fixtures/models/*.tflite ../../fixtures/kernels/*/*.tflite
    if [ -d "$zoo" ]; then
        find "$zoo" -name '*.tflite' | while IFS= read -r f; do add "corpus/$target" "$f"; done
    else
        echo "seed.sh: $zoo is not here; seeding with the fixtures only"
    fi
    echo "corpus/$target: $(ls "corpus/$target" | wc -l) files"
done

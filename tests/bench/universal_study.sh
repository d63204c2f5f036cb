#!/bin/bash
# universal_study.sh: the universal model (one model over the pooled symbols) against one model
# per symbol (docs/results.md, "Universal model"): two synthetic datasets of 8 symbols x 6000 s,
# one whose book-to-return map is shared by all symbols and one where it flips sign on the odd
# symbols (synth --mixed-dynamics), seeds 42 and 7, DeepLOB-TCN, 3 epochs; the universal runs
# hold SYN007USDT out of training. Prints a markdown table (tests/bench/universal_table.py).
#   tests/bench/universal_study.sh [BIN]     env OUT (default /tmp/universal_study)
set -e
B=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/deeplob_mpi}
O=${OUT:-/tmp/universal_study}
mkdir -p "$O" && cd "$O"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$B" synth --out shared.h5 --symbols 8 --seconds 6000 --oracle-range 0.3,0.6 --seed 11 --force > synth_shared.log
"$B" synth --out mixed.h5 --symbols 8 --seconds 6000 --oracle-range 0.3,0.6 --seed 11 --mixed-dynamics --force > synth_mixed.log
for ds in shared mixed; do for seed in 42 7; do for mode in per uni; do
  extra=""
  [ $mode = uni ] && extra=', "universal": true, "holdout_symbols": "SYN007USDT", "dp_shards": 2'
  cat > c_${ds}_${seed}_${mode}.json <<JSON
{"dataset": "$ds.h5", "symbols": "all", "model": "deeplob_tcn", "horizon": 10, "seq_len": 50, "batch": 256,
 "epochs": 3, "patience": 2, "plateau_patience": 1, "lr": 0.001, "price_features": "mid_relative",
 "volume_features": "log", "standardize_targets": true, "seed": $seed, "output_dir": "$O/out",
 "run_name": "${ds}_${seed}_${mode}", "threads": 1, "progress_interval": 0 $extra}
JSON
  /usr/bin/time -f "%e s" "$B" train c_${ds}_${seed}_${mode}.json --force > log_${ds}_${seed}_${mode}.txt 2>&1
  echo "done $ds $seed $mode $(tail -1 log_${ds}_${seed}_${mode}.txt)"
done; done; done
/usr/bin/python3 "$(dirname "$0")/universal_table.py" "$O/out"

#!/bin/bash
# test_disk_full.sh: full disks and read-only places (issue 14). Needs root and tmpfs mounts
# (skips otherwise: exit 77); the mounts live under the test's temp dir and are removed at
# exit, also on failure. Cases, each with a clear one-line error naming the file and the
# reason, no final output left half-written, every earlier file byte-identical (sha256
# before/after), and where training was cut: --resume after space is freed gives a
# results.h5 equal bit for bit to an uninterrupted run (cmp_results):
#   ro_outdir      output_dir on a read-only mount: nothing written, exit 1
#   ro_earlier     a finished run on a mount that became read-only; a new run fails, the old
#                  run's files are unchanged
#   ckpt_enospc    disk full at the second checkpoint save (free space = 1.5 checkpoints)
#   results_enospc disk full while results.h5 is written (every checkpoint fits, results.h5 not)
#   ckpt_efbig     RLIMIT_FSIZE (prlimit on the rank) below a checkpoint's size: EFBIG, not a
#                  SIGXFSZ death
#   results_efbig  RLIMIT_FSIZE between a checkpoint's and results.h5's size
#   convert_enospc a converted dataset (convert, synth) on a full disk: no file under the final
#                  name, no temp file, an earlier dataset intact; once space is freed the same
#                  command writes the same datasets as on a roomy disk (h5diff)
# Usage: test_disk_full.sh [CASE-REGEX]
set -u
ONLY=${1:-.}
source "$(dirname "$0")/mpi_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for tmpfs mounts"; exit 77; }
MNTS=()
cleanup() {
    for m in "${MNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
# mnt DIR SIZE [ro]: a fresh tmpfs
mnt() {
    mkdir -p "$1"
    mount -t tmpfs -o "size=$2${3:+,$3}" tmpfs "$1" 2>"$W/mount.err" || { cat "$W/mount.err"; echo "SKIP: cannot mount tmpfs here"; exit 77; }
    MNTS+=("$1")
}
avail() { df -B1 --output=avail "$1" | tail -1 | tr -d ' '; }
# fill DIR BYTES_LEFT: a filler file leaving about BYTES_LEFT free (page granularity)
fill() {
    local a; a=$(avail "$1"); local n=$(( a - $2 ))
    [ $n -gt 0 ] || fail "fill: only $a bytes free in $1, $2 wanted free"
    fallocate -l "$n" "$1/filler" 2>/dev/null || head -c "$n" /dev/zero > "$1/filler"
}
sums() { (cd "$1" && find . -type f ! -name filler -print0 | sort -z | xargs -0 -r sha256sum); }
nerr() { grep -c '^error:\|error:' "$1"; }
leftovers() { find "$1" \( -name '*.tmp*' -o -name '*.part' \) 2>/dev/null; }
pass=0; total=0
ok() { pass=$((pass + 1)); echo "ok   $1: $2"; }
case_on() { [[ "$1" =~ $ONLY ]] && { total=$((total + 1)); return 0; }; return 1; }

echo "== dataset and the reference run (roomy tmpfs, to measure sizes)"
"$BIN" synth --symbols 3 --seconds 2000 --seed 8 --out "$W/syn.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
mnt "$W/big" 512m
BATCH=32 MAXS=300 mk_config run "$W/syn.h5" 3
sed -i "s|\"output_dir\": \"$W/out\"|\"output_dir\": \"$W/big/out\"|" "$W/run.json"
"$MPIEXEC" -np 1 "$BIN" train "$W/run.json" --set run_name=ref > "$W/ref.log" 2>&1 || { show "$W/ref.log"; fail "reference run failed"; }
REF="$W/big/out/ref"
CK1=$(ls "$REF"/checkpoints/*.h5 | head -1)
C=$(stat -c %s "$CK1"); R=$(stat -c %s "$REF/results.h5")
PRE=$(du -B1 -s --exclude=results.h5 "$REF" | cut -f1)
echo "checkpoint $C B, results.h5 $R B, run dir without results.h5 $PRE B (allocated)"
ls -la "$REF" "$REF/checkpoints" | sed 's/^/  /'

# run_cut NAME OUTDIR [prefix...]: a training on OUTDIR expected to fail; sets RC
run_cut() {
    local name=$1 out=$2; shift 2
    sed "s|\"output_dir\": \"[^\"]*\"|\"output_dir\": \"$out\"|" "${RUNJSON:-$W/run.json}" > "$W/$name.json"
    "$@" "$MPIEXEC" -np 1 "$BIN" train "$W/$name.json" --set run_name=$name > "$W/$name.log" 2>&1
    RC=$?
}
# after_cut NAME DIR: the checks on a cut run's directory; prints why on failure
after_cut() {
    local name=$1 d=$2 why=""
    [ $RC -ne 0 ] || why="exit 0"
    [ -e "$d/results.h5" ] && why="$why; results.h5 left"
    local lo; lo=$(leftovers "$d"); [ -n "$lo" ] && why="$why; temp files left: $lo"
    for f in "$d"/checkpoints/*.h5; do [ -e "$f" ] || continue; h5dump "$f" > /dev/null 2>&1 || why="$why; $(basename "$f") unreadable"; done
    echo "$why"
}
# resume_cmp NAME OUTDIR: free space, --resume, compare with the reference
resume_cmp() {
    "$MPIEXEC" -np ${NP2:-2} --oversubscribe "$BIN" train "$W/$1.json" --set run_name=$1 --resume > "$W/$1.r.log" 2>&1 \
        || { show "$W/$1.r.log"; return 1; }
    (cmp_results "$REF/results.h5" "$2/$1/results.h5") > "$W/$1.cmp" 2>&1 || { cat "$W/$1.cmp"; return 1; }
    tail -1 "$W/$1.cmp"
}

if case_on ro_outdir; then
    mnt "$W/ro" 1m ro
    run_cut ro_outdir "$W/ro/out"
    msg=$(grep -m1 ': error: ' "$W/ro_outdir.log")
    if [ $RC -eq 1 ] && [ "$(nerr "$W/ro_outdir.log")" -eq 1 ] && [[ "$msg" == *"$W/ro/out"* ]] && [[ "$msg" == *"Read-only file system"* ]] \
       && [ -z "$(find "$W/ro" -mindepth 1)" ]; then ok ro_outdir "exit $RC: $msg"
    else show "$W/ro_outdir.log"; echo "FAIL ro_outdir: exit $RC"; fi
fi

if case_on ro_earlier; then
    mnt "$W/ro2" 64m
    run_cut prev "$W/ro2/out"; [ $RC -eq 0 ] || { show "$W/prev.log"; fail "ro_earlier: the earlier run failed"; }
    before=$(sums "$W/ro2")
    mount -o remount,ro "$W/ro2"
    run_cut ro_earlier "$W/ro2/out"
    msg=$(grep -m1 ': error: ' "$W/ro_earlier.log")
    after=$(sums "$W/ro2")
    if [ $RC -eq 1 ] && [ "$before" = "$after" ] && [[ "$msg" == *"Read-only file system"* ]] && [ ! -e "$W/ro2/out/ro_earlier" ]; then
        ok ro_earlier "exit $RC, $(echo "$before" | wc -l) earlier files unchanged: $msg"
    else show "$W/ro_earlier.log"; echo "FAIL ro_earlier: exit $RC"; fi
fi

if case_on ckpt_enospc; then
    mnt "$W/f1" 64m
    mkdir -p "$W/f1/out"; fill "$W/f1" $(( C * 3 / 2 + 16384 ))
    run_cut ckpt_enospc "$W/f1/out"
    msg=$(grep -m1 ': error: ' "$W/ckpt_enospc.log")
    ck_before=$(cd "$W/f1/out/ckpt_enospc" 2>/dev/null && sha256sum checkpoints/*.h5 2>/dev/null)
    why=$(after_cut ckpt_enospc "$W/f1/out/ckpt_enospc")
    [[ "$msg" == *"No space left on device"* ]] || why="$why; message: $msg"
    [ -n "$ck_before" ] || why="$why; no checkpoint survived"
    if [ -z "$why" ]; then
        rm -f "$W/f1/filler"
        if res=$(resume_cmp ckpt_enospc "$W/f1/out"); then ok ckpt_enospc "exit $RC: $msg; kept $(echo "$ck_before" | wc -l) checkpoint(s); resumed: $res"
        else echo "FAIL ckpt_enospc: resume: $res"; fi
    else show "$W/ckpt_enospc.log"; echo "FAIL ckpt_enospc:$why"; fi
fi

# results.h5 holds a quarter of a checkpoint per symbol (the weights; a checkpoint adds Adam's
# two moments and the best weights), and a checkpoint is replaced through a temp file: space
# that lets every checkpoint through always lets results.h5 through too. So the disk-full
# case for results.h5 runs without checkpoints ("checkpoint": false; --resume then trains
# again from the start), and results_efbig below cuts results.h5 with checkpoints on.
if case_on results_enospc; then
    mnt "$W/f2" 64m
    mkdir -p "$W/f2/out"; fill "$W/f2" $(( R / 2 ))
    sed 's/"threads": 1/"threads": 1, "checkpoint": false/' "$W/run.json" > "$W/run_nock.json"
    RUNJSON=$W/run_nock.json run_cut results_enospc "$W/f2/out"
    msg=$(grep -m1 ': error: ' "$W/results_enospc.log")
    why=$(after_cut results_enospc "$W/f2/out/results_enospc")
    [[ "$msg" == *"results.h5"* ]] || why="$why; message does not name results.h5: $msg"
    [[ "$msg" == *"No space left on device"* ]] || why="$why; message does not say the disk is full: $msg"
    if [ -z "$why" ]; then
        rm -f "$W/f2/filler"
        if res=$(resume_cmp results_enospc "$W/f2/out"); then ok results_enospc "exit $RC: $msg; resumed: $res"
        else echo "FAIL results_enospc: resume: $res"; fi
    else show "$W/results_enospc.log"; echo "FAIL results_enospc:$why"; fi
fi

# RLIMIT_FSIZE: set on the running rank (prlimit) once MPI is up (its banner line is out):
# a limit from the start would also cap MPI's own shared-memory files (PMIx's dstore fails
# and the launcher dies of SIGXFSZ before our code runs)
run_limited() { # NAME OUTDIR BYTES
    local name=$1 out=$2 lim=$3
    sed "s|\"output_dir\": \"[^\"]*\"|\"output_dir\": \"$out\"|" "${RUNJSON:-$W/run.json}" > "$W/$name.json"
    "$MPIEXEC" -np 1 "$BIN" train "$W/$name.json" --set run_name=$name > "$W/$name.log" 2>&1 &
    local mp=$! p=""
    for _ in $(seq 1 600); do
        grep -q '^\[rank 0/1\]' "$W/$name.log" 2>/dev/null && p=$(pgrep -P $mp -x deeplob_mpi) && [ -n "$p" ] && break
        sleep 0.02
    done
    [ -n "$p" ] && prlimit --pid "$p" --fsize="$lim:$lim" || echo "run_limited: no rank to limit" >> "$W/$name.log"
    wait $mp; RC=$?
}

if case_on ckpt_efbig; then
    mkdir -p "$W/out"
    run_limited ckpt_efbig "$W/out" $(( C / 2 ))
    msg=$(grep -m1 ': error: ' "$W/ckpt_efbig.log")
    why=$(after_cut ckpt_efbig "$W/out/ckpt_efbig")
    [[ "$msg" == *"File too large"* ]] || why="$why; message: $msg"
    if [ -z "$why" ]; then
        if res=$(resume_cmp ckpt_efbig "$W/out"); then ok ckpt_efbig "exit $RC: $msg; resumed: $res"
        else echo "FAIL ckpt_efbig: resume: $res"; fi
    else show "$W/ckpt_efbig.log"; echo "FAIL ckpt_efbig:$why"; fi
fi

if case_on results_efbig; then
    # 6 symbols: results.h5 (about 6 x C/4) outgrows one checkpoint; the limit lies between
    "$BIN" synth --symbols 6 --seconds 2000 --seed 9 --out "$W/syn6.h5" > "$W/synth6.log" 2>&1 || { show "$W/synth6.log"; fail "synth 6"; }
    sed "s|$W/syn.h5|$W/syn6.h5|" "$W/run.json" > "$W/run6.json"
    "$MPIEXEC" -np 2 --oversubscribe "$BIN" train "$W/run6.json" --set run_name=ref6 > "$W/ref6.log" 2>&1 || { show "$W/ref6.log"; fail "6-symbol reference"; }
    R6=$(stat -c %s "$REF/../ref6/results.h5")
    [ "$R6" -gt $(( C + 65536 )) ] || fail "results_efbig: results.h5 of 6 symbols ($R6 B) is not larger than a checkpoint ($C B)"
    mkdir -p "$W/out"
    RUNJSON=$W/run6.json run_limited results_efbig "$W/out" $(( (C + R6) / 2 ))
    msg=$(grep -m1 ': error: ' "$W/results_efbig.log")
    why=$(after_cut results_efbig "$W/out/results_efbig")
    [[ "$msg" == *"results.h5"* ]] || why="$why; message does not name results.h5: $msg"
    [[ "$msg" == *"File too large"* ]] || why="$why; message does not say the file is too large: $msg"
    nck=$(ls "$W/out/results_efbig/checkpoints/"*.h5 2>/dev/null | wc -l)
    if [ -z "$why" ]; then
        if res=$(REF=$REF/../ref6 resume_cmp results_efbig "$W/out"); then ok results_efbig "exit $RC: $msg; $nck checkpoints kept; resumed: $res"
        else echo "FAIL results_efbig: resume: $res"; fi
    else show "$W/results_efbig.log"; echo "FAIL results_efbig:$why"; fi
fi

if case_on convert_enospc; then
    "$BIN" synth --symbols 2 --seconds 2000 --seed 3 --out "$W/big/syn2.h5" --tardis-out "$W/tardis" > "$W/s2.log" 2>&1 || { show "$W/s2.log"; fail "synth --tardis-out"; }
    CONV=("$BIN" convert --in "$W/tardis/book_snapshot_25" --out)
    "${CONV[@]}" "$W/big/conv_ref.h5" > "$W/conv_ref.log" 2>&1 || { show "$W/conv_ref.log"; fail "convert on a roomy disk"; }
    DS=$(stat -c %s "$W/big/conv_ref.h5")
    mnt "$W/f3" 64m
    cp "$W/big/conv_ref.h5" "$W/f3/earlier.h5"
    before=$(sums "$W/f3")
    fill "$W/f3" $(( DS / 2 ))
    "${CONV[@]}" "$W/f3/conv.h5" > "$W/conv_cut.log" 2>&1; RC=$?
    msg=$(grep -m1 'conv.h5.tmp' "$W/conv_cut.log")
    why=""
    [ $RC -ne 0 ] || why="exit 0"
    [ -e "$W/f3/conv.h5" ] && why="$why; conv.h5 left"
    lo=$(leftovers "$W/f3"); [ -n "$lo" ] && why="$why; temp files left: $lo"
    [ "$before" = "$(sums "$W/f3")" ] || why="$why; the earlier dataset changed"
    [[ "$msg" == *"No space left on device"* || "$msg" == *"disk full"* ]] || why="$why; message: $msg"
    # synth to the same full disk
    "$BIN" synth --symbols 3 --seconds 2000 --seed 8 --out "$W/f3/syn.h5" > "$W/synth_cut.log" 2>&1; RC2=$?
    msg2=$(grep -m1 'syn.h5' "$W/synth_cut.log")
    [ $RC2 -ne 0 ] && [ ! -e "$W/f3/syn.h5" ] && [ -z "$(leftovers "$W/f3")" ] || why="$why; synth: exit $RC2, $msg2"
    if [ -z "$why" ]; then
        rm -f "$W/f3/filler"
        "${CONV[@]}" "$W/f3/conv.h5" > "$W/conv_again.log" 2>&1 || why="convert after freeing space failed"
        h5diff -r "$W/big/conv_ref.h5" "$W/f3/conv.h5" > "$W/h5diff.log" 2>&1 || why="$why; h5diff: $(head -3 "$W/h5diff.log")"
    fi
    if [ -z "$why" ]; then ok convert_enospc "convert exit $RC: $msg; synth exit $RC2: $msg2; after freeing: same datasets (h5diff)"
    else show "$W/conv_cut.log"; echo "FAIL convert_enospc:$why"; fi
fi

echo "$pass of $total disk cases held"
[ "$pass" -eq "$total" ] || exit 1

#!/usr/bin/env bash
# Submits a sharded gosbi simulation to Slurm: a job array of K tasks
# (simulate.sbatch, task I runs shard I) and a merge job (merge.sbatch) that
# starts only after every array task succeeded (--dependency=afterok) and is
# cancelled if one fails (--kill-on-invalid-dep=yes).
#
# Usage:
#   GOSBI_BIN=/shared/bin/gosbi GOSBI_TASK=two_moons GOSBI_N=100000 GOSBI_SEED=1 \
#   GOSBI_SHARDS=20 GOSBI_WORKDIR=/shared/run1 deploy/slurm/submit.sh [SBATCH_OPTION...]
#
# SBATCH_OPTIONs (for example --partition=short --account=proj --time=02:00:00)
# are passed to both sbatch calls. Other variables:
#   GOSBI_CPUS          CPUs per array task and simulate workers      (default 1)
#   GOSBI_MAX_PARALLEL  at most this many array tasks at once (%P)    (default: no limit)
#   GOSBI_EXT, GOSBI_OUT as in simulate.sbatch and merge.sbatch.
# See deploy/README.md.
#
# Prints the job ids on standard output, one per line, as shell assignments:
#   SIMULATE_JOB=<array job id>
#   MERGE_JOB=<merge job id>
# and the log and result paths on standard error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

: "${GOSBI_BIN:=gosbi}"
: "${GOSBI_TASK:?set GOSBI_TASK (a built-in task, see gosbi tasks)}"
: "${GOSBI_N:?set GOSBI_N (total number of simulations)}"
: "${GOSBI_SEED:?set GOSBI_SEED}"
: "${GOSBI_SHARDS:?set GOSBI_SHARDS (number of array tasks)}"
: "${GOSBI_WORKDIR:?set GOSBI_WORKDIR (a directory shared by the submit host and all nodes)}"
: "${GOSBI_EXT:=.gsim}"
: "${GOSBI_CPUS:=1}"
: "${GOSBI_MAX_PARALLEL:=}"

die() { echo "submit.sh: $*" >&2; exit 2; }
# posint NAME VALUE: VALUE must be a positive integer.
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"; }
posint GOSBI_N "$GOSBI_N"
[[ $GOSBI_SEED =~ ^[0-9]+$ ]] || die "GOSBI_SEED must be a non-negative integer, got '$GOSBI_SEED'"
posint GOSBI_SHARDS "$GOSBI_SHARDS"
posint GOSBI_CPUS "$GOSBI_CPUS"
[ -z "$GOSBI_MAX_PARALLEL" ] || posint GOSBI_MAX_PARALLEL "$GOSBI_MAX_PARALLEL"
command -v "$GOSBI_BIN" >/dev/null || die "GOSBI_BIN: no executable '$GOSBI_BIN'"
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm submit host"

# Relative paths are made absolute (the jobs would resolve them against
# their own working directory); a bare command name is looked up on PATH on
# the compute node, as environment modules expect.
case $GOSBI_BIN in /*) ;; */*) GOSBI_BIN=$PWD/$GOSBI_BIN ;; esac
case $GOSBI_WORKDIR in /*) ;; *) GOSBI_WORKDIR=$PWD/$GOSBI_WORKDIR ;; esac
: "${GOSBI_OUT:=$GOSBI_WORKDIR/simulations$GOSBI_EXT}"
export GOSBI_BIN GOSBI_TASK GOSBI_N GOSBI_SEED GOSBI_SHARDS GOSBI_WORKDIR GOSBI_EXT GOSBI_OUT

# sbatch does not create the directory of --output; a job whose log
# directory is missing fails without a trace.
mkdir -p "$GOSBI_WORKDIR/shards" "$GOSBI_WORKDIR/logs"

array=0-$((GOSBI_SHARDS - 1))
[ -z "$GOSBI_MAX_PARALLEL" ] || array+=%$GOSBI_MAX_PARALLEL

sim=$(sbatch --parsable --export=ALL --array="$array" --cpus-per-task="$GOSBI_CPUS" \
	--output="$GOSBI_WORKDIR/logs/simulate-%A_%a.out" "$@" "$here/simulate.sbatch")
sim=${sim%%;*} # --parsable prints "id" or "id;cluster"
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$sim" --kill-on-invalid-dep=yes \
	--output="$GOSBI_WORKDIR/logs/merge-%j.out" "$@" "$here/merge.sbatch")
merge=${merge%%;*}

echo "SIMULATE_JOB=$sim"
echo "MERGE_JOB=$merge"
{
	echo "submitted $GOSBI_SHARDS simulate tasks (job array $sim) and the merge job $merge"
	echo "logs:   $GOSBI_WORKDIR/logs/"
	echo "shards: $GOSBI_WORKDIR/shards/"
	echo "result: $GOSBI_OUT"
} >&2

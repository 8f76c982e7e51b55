#!/usr/bin/env bash
# Run a benchmark longer than one device command (10 min) on the GPU machine: start it detached, then poll it from
# successive calls (the machine stays held while calls follow each other). What the job writes under its folder
# $JOBS/NAME/out comes back on every poll (copied into $OUT, which each call empties).
#
#   bash benchmarks/device_job.sh start NAME -- COMMAND...   # detached (setsid); JOB_OUT=$JOBS/NAME/out for it
#   bash benchmarks/device_job.sh poll NAME [SECONDS]        # wait until it ends or SECONDS pass (default 540),
#                                                            # print the log's tail, copy its out/ into $OUT
#   bash benchmarks/device_job.sh stop NAME                  # kill the job's process group (never `pkill -f`:
#                                                            # it matches the calling command line too)
# The repository is copied to $JOBS/NAME/repo first, so that the next call's fresh working tree does not move the
# files under a running job. knobs: JOBS (/tmp/device_jobs).
set -uo pipefail
JOBS=${JOBS:-/tmp/device_jobs}
cmd=${1:?usage: start NAME -- COMMAND... | poll NAME [SECONDS] | stop NAME}; name=${2:?job name}; shift 2
J=$JOBS/$name
case $cmd in
  start)
    [ "${1:-}" = "--" ] && shift
    [ -e "$J/pid" ] && kill -0 "$(cat "$J/pid")" 2>/dev/null && { echo "device_job: $name is already running"; exit 1; }
    rm -rf "$J" && mkdir -p "$J/out" && cp -a . "$J/repo" || exit 1
    (cd "$J/repo" && JOB_OUT=$J/out setsid nohup bash -c '"$@"; echo $? > '"$J/rc" _ "$@" > "$J/log" 2>&1 &
     echo $! > "$J/pid")
    sleep 2; echo "device_job: $name started (pid $(cat "$J/pid"))"; tail -5 "$J/log" ;;
  poll)
    # a fresh machine (the held one was lost between calls) has no such job: say so at once instead of waiting
    [ -d "$J" ] || { echo "device_job: no job $name on this machine (a fresh machine? the job is lost)"; exit 3; }
    limit=${1:-540}; t0=$SECONDS
    while [ ! -f "$J/rc" ] && [ $((SECONDS - t0)) -lt "$limit" ]; do sleep 5; done
    if [ -f "$J/rc" ]; then echo "device_job: $name ended rc=$(cat "$J/rc")"; else echo "device_job: $name still running"; fi
    tail -40 "$J/log"
    [ -n "${OUT:-}" ] && cp -r "$J/out/." "$OUT/" 2>/dev/null; cp "$J/log" "${OUT:-/tmp}/job_$name.log" 2>/dev/null
    true ;;
  stop)
    [ -f "$J/pid" ] || { echo "device_job: no job $name"; exit 1; }
    kill -TERM -- -"$(cat "$J/pid")" 2>/dev/null; sleep 3; kill -KILL -- -"$(cat "$J/pid")" 2>/dev/null
    echo "device_job: $name stopped" ;;
  *) echo "device_job: unknown command $cmd (start, poll, stop)"; exit 1 ;;
esac

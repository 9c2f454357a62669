#!/usr/bin/env bash
# Reaction scenario (see bench/scenarios/job.rhai): a backup Job, waited for, marker.
# WAIT=watch: kubectl wait --for=condition=complete; WAIT=poll: a 1 s `kubectl get` loop.
. "$(dirname "$0")/common.sh"
kubectl create job -n "$NS" "$JOB" --from=CronJob/mongobackup
if [ "$WAIT" = poll ]; then
    until [ "$(kubectl get job -n "$NS" "$JOB" -o jsonpath='{.status.succeeded}')" = 1 ]; do sleep 1; done
else
    kubectl wait -n "$NS" --for=condition=complete "job/$JOB" --timeout=120s
fi
kubectl get cm -n "$NS" "$MARKER" --ignore-not-found

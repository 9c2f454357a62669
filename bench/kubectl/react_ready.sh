#!/usr/bin/env bash
# Reaction scenario (see bench/scenarios/ready.rhai): STS down and up, wait ready, marker.
# WAIT=watch: kubectl rollout status; WAIT=poll: a 1 s `kubectl get` loop.
. "$(dirname "$0")/common.sh"
kubectl scale sts -n "$NS" "$STS" --replicas=0
wait_gone "$STS"
kubectl scale sts -n "$NS" "$STS" --replicas=1
if [ "$WAIT" = poll ]; then
    until [ "$(kubectl get sts -n "$NS" "$STS" -o jsonpath='{.status.readyReplicas}')" = 1 ]; do sleep 1; done
else
    kubectl rollout status "sts/$STS" -n "$NS" --timeout=120s
fi
kubectl get cm -n "$NS" "$MARKER" --ignore-not-found

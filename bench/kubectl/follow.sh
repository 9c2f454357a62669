#!/usr/bin/env bash
# Log scenario (see bench/scenarios/follow.rhai): kubectl logs -f | grep -m1, then marker.
. "$(dirname "$0")/common.sh"
# grep exits at the match; kubectl then dies of SIGPIPE at its next write (status 141).
(kubectl logs -f -n "$NS" "$POD" -c "$CONTAINER" || true) | grep -m1 -- "$UNTIL"
kubectl get cm -n "$NS" "$MARKER" --ignore-not-found

# Shared by the kubectl procedures: what an operator's script sets up first.
# Environment (the bench driver sets it; see bench/run.sh):
#   TOOLS        the k8sdeploy_tools checkout (the scripts run from there)
#   KUBECONFIG   the cluster; NS the Vantiq namespace; CLUSTER the -Pcluster name
#   VANTIQ_URL   https://host:port of the IDE/API; VANTIQ_ADDR ip:port it resolves to
#   VANTIQ_CA    CA bundle of the endpoint; VANTIQ_TOKEN_FILE an access token
set -euo pipefail
cd "$TOOLS"

say() { printf '==> %s\n' "$*"; }

# The IDE login check of the runbook ("Vantiq IDE にログインできることを確認する"),
# as a script does it: an authenticated call to the About endpoint.
about() {
    local hostport=${VANTIQ_URL#https://}
    curl -sSf --cacert "$VANTIQ_CA" \
        --resolve "${hostport%%:*}:${hostport##*:}:${VANTIQ_ADDR%%:*}" \
        -H "Authorization: Bearer $(cat "$VANTIQ_TOKEN_FILE")" \
        "$VANTIQ_URL/api/v1/about"
}

# The optional components exist only where configured.
present() { kubectl get sts -n "$NS" "$1" >/dev/null 2>&1; }

# Poll (1 s) until a StatefulSet's pods are all gone after scaling to 0.
wait_gone() {
    until [ -z "$(kubectl get pods -n "$NS" -l app="$1" -o name)" ]; do sleep 1; done
}

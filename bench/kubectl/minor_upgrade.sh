#!/usr/bin/env bash
# Vantiq Minor Version Upgrade, as the runbook's kubectl/gradlew lines in a bash script.
# Usage: TAG=1.31.0 [RELEASE=3.11.0] minor_upgrade.sh   (environment: see common.sh)
. "$(dirname "$0")/common.sh"
components="vantiq metrics-collector vision-analytics"

say "0. check the installation and the target version"
tag_before=$(sed -n '/^vantiq:/,/^[a-z]/s/^    tag: *//p' targetCluster/deploy.yaml | head -1)
release_before=$(sed -n 's/^vantiq_system_release=//p' targetCluster/cluster.properties)
if [ "${TAG%.*}" = "${tag_before%.*}" ]; then echo "not a minor upgrade" >&2; exit 1; fi
about_before=$(about)

say "2. git pull"
git pull -q

say "3. deploy.yaml vantiq.image.tag=$TAG"
sed -i "/^vantiq:/,/^[a-z]/s/^    tag: .*/    tag: $TAG/" targetCluster/deploy.yaml

say "4./5. cluster.properties, setupCluster"
if [ -n "${RELEASE:-}" ] && [ "$RELEASE" != "$release_before" ]; then
    sed -i "s/^vantiq_system_release=.*/vantiq_system_release=$RELEASE/" targetCluster/cluster.properties
    ./gradlew -Pcluster="$CLUSTER" setupCluster
fi

say "6. stop Vantiq (downtime starts)"
declare -A replicas
for s in $components; do
    if present "$s"; then
        replicas[$s]=$(kubectl get sts -n "$NS" "$s" -o jsonpath='{.spec.replicas}')
    fi
done
for s in "${!replicas[@]}"; do kubectl scale sts -n "$NS" "$s" --replicas=0; done
for s in "${!replicas[@]}"; do wait_gone "$s"; done

say "7. back up MongoDB"
job="mongobackup-$(date +%Y%m%d%H%M%S)"
kubectl create job -n "$NS" "$job" --from=CronJob/mongobackup
kubectl wait -n "$NS" --for=condition=complete "job/$job" --timeout=1800s
kubectl logs -n "$NS" "job/$job" | tail -n 3

say "8. deployVantiq, hold vantiq at one pod"
./gradlew -Pcluster="$CLUSTER" deployVantiq
kubectl scale sts -n "$NS" vantiq --replicas=1
for s in metrics-collector vision-analytics; do
    if [ -n "${replicas[$s]:-}" ]; then kubectl scale sts -n "$NS" "$s" --replicas=0; fi
done
kubectl get sts -n "$NS" vantiq -o jsonpath='{.spec.replicas}' | grep -qx 1

say "9. follow the schema migration (load-model)"
until kubectl logs -n "$NS" vantiq-0 -c load-model >/dev/null 2>&1; do sleep 1; done
line=$( (kubectl logs -n "$NS" vantiq-0 -c load-model -f || true) | grep -m1 -E 'COMPLETED|FAILED')
echo "migration: $line"
case "$line" in *COMPLETED*) ;; *) echo "migration failed" >&2; exit 1 ;; esac

say "10. vantiq-0 ready, IDE login (downtime ends)"
kubectl rollout status sts/vantiq -n "$NS" --timeout=900s
about >/dev/null

say "11. scale back"
for s in "${!replicas[@]}"; do kubectl scale sts -n "$NS" "$s" --replicas="${replicas[$s]}"; done
for s in "${!replicas[@]}"; do kubectl rollout status "sts/$s" -n "$NS" --timeout=900s; done

say "12. report"
echo "version before: $(echo "$about_before" | sed -n 's/.*"serverBuildVersion" *: *"\([^"]*\)".*/\1/p')"
echo "version after:  $(about | sed -n 's/.*"serverBuildVersion" *: *"\([^"]*\)".*/\1/p')"
echo "backup job:     $job"

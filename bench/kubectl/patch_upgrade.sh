#!/usr/bin/env bash
# Vantiq Patch Version Upgrade, as the runbook's kubectl/gradlew lines in a bash script.
# Usage: TAG=1.30.11 [RELEASE=...] patch_upgrade.sh   (environment: see common.sh)
. "$(dirname "$0")/common.sh"

say "0. check the installation and the target version"
tag_before=$(sed -n '/^vantiq:/,/^[a-z]/s/^    tag: *//p' targetCluster/deploy.yaml | head -1)
release_before=$(sed -n 's/^vantiq_system_release=//p' targetCluster/cluster.properties)
if [ "${TAG%.*}" != "${tag_before%.*}" ]; then echo "not a patch upgrade" >&2; exit 1; fi
about_before=$(about)

say "1. git pull"
git pull -q

say "2. deploy.yaml vantiq.image.tag=$TAG"
sed -i "/^vantiq:/,/^[a-z]/s/^    tag: .*/    tag: $TAG/" targetCluster/deploy.yaml

say "3./4. cluster.properties, setupCluster"
if [ -n "${RELEASE:-}" ] && [ "$RELEASE" != "$release_before" ]; then
    sed -i "s/^vantiq_system_release=.*/vantiq_system_release=$RELEASE/" targetCluster/cluster.properties
    ./gradlew -Pcluster="$CLUSTER" setupCluster
fi

say "5. deployVantiq"
./gradlew -Pcluster="$CLUSTER" deployVantiq

say "6. rolling update, IDE login"
kubectl rollout status sts/vantiq -n "$NS" --timeout=1800s
about >/dev/null

say "7. report"
echo "version before: $(echo "$about_before" | sed -n 's/.*"serverBuildVersion" *: *"\([^"]*\)".*/\1/p')"
echo "version after:  $(about | sed -n 's/.*"serverBuildVersion" *: *"\([^"]*\)".*/\1/p')"

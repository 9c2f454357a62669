#!/usr/bin/env bash
# License ファイルを更新する, as the runbook's kubectl/gradlew lines in a bash script.
# Usage: PUBLIC_PEM=new/public.pem LICENSE_KEY=new/license.key license_renew.sh
. "$(dirname "$0")/common.sh"
sensitive=targetCluster/deploy/sensitive
stamp=$(date +%Y%m%d)

say "0. check the new license files"
test -s "$PUBLIC_PEM" && test -s "$LICENSE_KEY"

say "1. install the new files, keeping dated backups"
for f in public.pem license.key; do
    if [ -f "$sensitive/$f" ]; then cp -p "$sensitive/$f" "$sensitive/$f.$stamp"; fi
done
cp "$PUBLIC_PEM" "$sensitive/public.pem"
cp "$LICENSE_KEY" "$sensitive/license.key"

say "2. generateSecrets"
./gradlew -Pcluster="$CLUSTER" generateSecrets

say "3. deployVantiq"
./gradlew -Pcluster="$CLUSTER" deployVantiq

say "4. rolling restart"
kubectl rollout restart sts -n "$NS" vantiq
kubectl rollout status sts/vantiq -n "$NS" --timeout=1800s

say "5. verify and report"
about | sed -n 's/.*"licenseExpiration" *: *"\([^"]*\)".*/license expiration: \1/p'

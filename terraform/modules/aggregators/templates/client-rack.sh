#!/bin/sh
# mirrorlake-client-rack ENV_FILE: the aggregator unit's ExecStartPre (rendered by
# terraform/modules/aggregators, rack_aware_fetching). Writes
#   MIRRORLAKE_CLIENT_RACK_ARG=--kafka-option=client.rack=<AZ ID>
# to ENV_FILE, the unit's EnvironmentFile, whose ExecStart ends with $MIRRORLAKE_CLIENT_RACK_ARG.
# MSK's broker.rack is the AZ ID (use1-az1), not the AZ name, so the brokers'
# RackAwareReplicaSelector can serve this consumer from the replica in its own AZ.
# When IMDS does not answer, ENV_FILE is left empty: no argument, the aggregator fetches from the
# partition leaders. Always exits 0.
set -u
out="$1"
imds="http://169.254.169.254/latest"
az_id=""
if token="$(curl -sf --connect-timeout 1 --max-time 2 -X PUT "$imds/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60")"; then
  az_id="$(curl -sf --connect-timeout 1 --max-time 2 -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/placement/availability-zone-id")" || az_id=""
fi
case "$az_id" in
  *[!a-z0-9-]* | "")
    echo "mirrorlake-client-rack: no AZ ID from IMDS; client.rack not set (fetching from the partition leaders)" >&2
    : >"$out.tmp"
    ;;
  *)
    printf 'MIRRORLAKE_CLIENT_RACK_ARG=--kafka-option=client.rack=%s\n' "$az_id" >"$out.tmp"
    ;;
esac
mv -f "$out.tmp" "$out" || rm -f "$out.tmp"
exit 0

#!/usr/bin/env sh
# Prints a .env for compose.yaml: a fresh random value for every secret the platform reads
# (`neosl secrets` lists them) and for the database password. Keep the file: the replicas' keys,
# users' deposit addresses and pool accounts derive from it.
set -eu
hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
echo "POSTGRES_PASSWORD=$(hex)"
for name in POOL_MASTER_KEY VRF_PRIVATE_KEY JWT_SIGNING_KEY GASBANK_MASTER_KEY GATEWAY_ADMIN_TOKEN \
    DATAFEEDS_SIGNING_KEY AUTOMATION_SIGNING_KEY MIXER_MASTER_KEY \
    SECRETS_MASTER_KEY CONFIDENTIAL_MASTER_KEY; do
    echo "$name=$(hex)"
done

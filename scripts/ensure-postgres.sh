#!/usr/bin/env bash
# Make sure a PostgreSQL answers on 127.0.0.1:5432 for the test suite: start the local
# cluster if it is installed but stopped, install it from the system packages if missing.
set -euo pipefail
url_host=127.0.0.1
if pg_isready -h "$url_host" -p 5432 -q 2>/dev/null; then
    exit 0
fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing PostgreSQL from the system packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do
    pg_isready -h "$url_host" -p 5432 -q && break
    sleep 1
done
pg_isready -h "$url_host" -p 5432 -q || { echo "PostgreSQL did not start" >&2; exit 1; }
# Tests connect as postgres without a password over TCP (trust), as on these machines.
if ! psql -h "$url_host" -U postgres -c 'select 1' >/dev/null 2>&1; then
    hba=$(ls /etc/postgresql/"$version"/main/pg_hba.conf)
    sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi

#!/bin/sh
# Refuses to start the stack while a secret from .env is empty, too short, or a known placeholder
# such as .env.example's change-me. docker-compose.yaml runs it as the secrets-check service,
# which every other service waits for; a refusal names each bad variable and exits 1.
set -u

PLACEHOLDERS="change-me change-me-too changeme change_me password passw0rd secret admin postgres \
airflow mqttids example test default"
MIN_LENGTH=12
status=0

refuse() {
    echo "secrets-check: $1 $2: set your own value in .env (see .env.example)" >&2
    status=1
}

check() {  # name, value, kind (password: goes into connection URLs unencoded; key: anything)
    name=$1 value=$2 kind=$3
    lower=$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')
    if [ -z "$value" ]; then
        refuse "$name" "is empty"
        return
    fi
    for placeholder in $PLACEHOLDERS; do
        if [ "$lower" = "$placeholder" ]; then
            refuse "$name" "is the placeholder '$value'"
            return
        fi
    done
    case "$lower" in
        *change-me* | *changeme* | *change_me*)
            refuse "$name" "still contains a placeholder ('$value')"
            return
            ;;
    esac
    if [ "${#value}" -lt "$MIN_LENGTH" ]; then
        refuse "$name" "is shorter than $MIN_LENGTH characters"
        return
    fi
    if [ "$kind" = password ] && printf '%s' "$value" | grep -q '[^A-Za-z0-9_-]'; then
        refuse "$name" "has characters other than letters, digits, '-' and '_' (it is used in URLs)"
    fi
}

check POSTGRES_SUPERUSER_PASSWORD "${POSTGRES_SUPERUSER_PASSWORD:-}" password
check MQTTIDS_DB_PASSWORD "${MQTTIDS_DB_PASSWORD:-}" password
check AIRFLOW_DB_PASSWORD "${AIRFLOW_DB_PASSWORD:-}" password
check AIRFLOW_FERNET_KEY "${AIRFLOW_FERNET_KEY:-}" key
check AIRFLOW_JWT_SECRET "${AIRFLOW_JWT_SECRET:-}" key
if [ -n "${MQTTIDS_ANALYST_PASSWORD:-}" ]; then
    check MQTTIDS_ANALYST_PASSWORD "$MQTTIDS_ANALYST_PASSWORD" password
fi

if [ "$status" -ne 0 ]; then
    echo "secrets-check: refusing to start the stack" >&2
else
    echo "secrets-check: secrets are set"
fi
exit "$status"

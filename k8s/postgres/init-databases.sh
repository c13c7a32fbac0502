#!/bin/bash
# Creates one database and one owning role per service (auth, transactions, fraud) on the first start of
# an empty data directory: the postgres image runs /docker-entrypoint-initdb.d/* only then. Used by
# docker-compose.yml and by the in-cluster PostgreSQL (k8s/postgres/postgres.yaml). The image may source
# this file rather than execute it, so it changes no shell options and stops with `return`/`exit`
# explicitly.

# NAME_DB_PASSWORD, or the file NAME_DB_PASSWORD_FILE names (Compose), as the image reads POSTGRES_PASSWORD.
db_password() { # name
  local variable="${1^^}_DB_PASSWORD" file="${1^^}_DB_PASSWORD_FILE"
  if [[ -n "${!variable:-}" ]]; then
    printf '%s' "${!variable}"
  elif [[ -n "${!file:-}" ]]; then
    cat "${!file}"
  fi
}

create_service_database() { # name, password
  if [[ -z "$2" ]]; then
    echo "init-databases: no password given for the '$1' database (set ${1^^}_DB_PASSWORD or ${1^^}_DB_PASSWORD_FILE)" >&2
    return 1
  fi
  # psql variables quote the identifier and the literal, so a password cannot break out of the SQL.
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v name="$1" -v password="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
-- Each service reaches its own database only.
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
}

create_service_database auth "$(db_password auth)" || exit 1
create_service_database transactions "$(db_password transactions)" || exit 1
create_service_database fraud "$(db_password fraud)" || exit 1
echo "init-databases: created databases auth, transactions, fraud"

#!/usr/bin/env bash
# Starts the shared services stacktender's tests and demo use, if they are not running:
# RabbitMQ (with the management plugin), MariaDB and PostgreSQL. No systemd needed.
# Services a test needs privately (memcached, haproxy, OVS, Galera, Icinga 2, Prometheus)
# are started by the tests themselves from the installed binaries.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 "${2:-60}"); do port_open "$1" && return 0; sleep 1; done
  echo "ensure-services: nothing listens on port $1 after ${2:-60}s" >&2; return 1
}

if ! port_open 3306; then
  echo "starting MariaDB" >&2
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_port 3306 60
fi

# Tests and the test cloud log in as root over TCP without a password, as on the machines
# this project's CI runs on; a fresh Debian MariaDB allows root only through its socket.
if ! mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
  echo "allowing MariaDB root over TCP without password (test machine)" >&2
  mariadb -u root -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;"
fi

# The test cloud's services keep oslo.db pools of up to 55 connections each (cinder alone
# held 81 while tests created volumes concurrently); MariaDB's default of 151 ran out and
# the services answered 503. Raised for the running server only (test machine).
if [ "$(mariadb -h 127.0.0.1 -u root -N -e 'SELECT @@max_connections' 2>/dev/null || echo 0)" -lt 1000 ]; then
  mariadb -h 127.0.0.1 -u root -e 'SET GLOBAL max_connections = 1000' || true
fi

if ! port_open 5432; then
  echo "starting PostgreSQL" >&2
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    pg_createcluster "$version" main >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432 60
  # trust on loopback, as on the machines this project's CI runs on
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
fi

if ! port_open 5672; then
  echo "starting RabbitMQ" >&2
  rabbitmq-server -detached
  wait_port 5672 90
fi
if ! port_open 15672; then
  echo "enabling the RabbitMQ management plugin" >&2
  rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null
  wait_port 15672 60
fi

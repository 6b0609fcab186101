#!/usr/bin/env bash
# make demo: the local test cloud, its infrastructure, and a full sweep of every check.
# Starts: the test cloud (stacktender testcloud up + seed), a memcached (keystone-style cache)
# and an haproxy in front of the cloud's APIs, under <state>/demo. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ST=.venv/bin/stacktender
STATE=${STACKTENDER_TESTCLOUD_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/stacktender/testcloud}
DEMO=$STATE/demo
mkdir -p "$DEMO"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

say "test cloud: keystone, placement, nova (fake driver), glance, neutron, cinder"
$ST testcloud up
$ST testcloud seed

say "memcached and haproxy in front of the cloud's APIs"
if ! port_open 11211; then
  memcached -d -l 127.0.0.1 -p 11211 -U 0 -u root -m 64 -P "$DEMO/memcached.pid"
fi
api_ports=$($ST testcloud status -f value -c service -c port | awk '$2 ~ /^[0-9]+$/ {print $1, $2}')
{
  printf 'global\n  stats socket %s mode 600 level admin\n  maxconn 2000\n' "$DEMO/haproxy.sock"
  printf 'defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n'
  while read -r service port; do
    [ -n "$service" ] || continue
    printf 'listen %s\n  bind 127.0.0.1:%s\n  option httpchk GET /\n' "$service" "$((port + 100))"
    printf '  server %s-1 127.0.0.1:%s check inter 2s\n' "$service" "$port"
  done <<< "$api_ports"
} > "$DEMO/haproxy.cfg"
if [ -f "$DEMO/haproxy.pid" ] && kill -0 "$(cat "$DEMO/haproxy.pid")" 2>/dev/null; then
  haproxy -f "$DEMO/haproxy.cfg" -D -p "$DEMO/haproxy.pid" -sf "$(cat "$DEMO/haproxy.pid")"
else
  haproxy -f "$DEMO/haproxy.cfg" -D -p "$DEMO/haproxy.pid"
fi

cat > "$DEMO/stacktender.yaml" <<YAML
# Written by scripts/demo.sh: every check against the test cloud and its infrastructure.
os_cloud: testcloud-admin
timeout: 20
targets:
  rabbitmq: {url: "http://guest:guest@127.0.0.1:15672"}
  mysql: "mysql://root@127.0.0.1:3306/"
  memcached: "memcached://127.0.0.1:11211"
  haproxy: "unix://$DEMO/haproxy.sock"
  postgres: "postgresql://postgres@127.0.0.1:5432/postgres"
sweep:
  - rabbitmq-node
  - rabbitmq-health
  - {check: rabbitmq-queues, options: {vhost: testcloud}}
  - {check: rabbitmq-openstack, options: {vhost: testcloud}}
  - rabbitmq-connections
  - rabbitmq-roundtrip
  - mysql-connection
  - mysql-connections
  - postgres-connection
  - postgres-connections
  - memcached
  - haproxy-servers
  - haproxy-sessions
  - openstack-keystone
  - openstack-endpoints
  - openstack-nova-services
  - openstack-cinder-services
  - openstack-neutron-agents
  - openstack-placement
  - openstack-hypervisors
  - {check: openstack-nova-versions, url: "mysql://root@127.0.0.1:3306/testcloud_nova_cell1"}
YAML

say "sweep: every check, concurrently ($DEMO/stacktender.yaml)"
export STACKTENDER_CONFIG=$DEMO/stacktender.yaml
$ST sweep --record -c name -c status -c summary

say "metering: a queue of our own starts collecting the cloud's notifications"
export STACKTENDER_TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:5672/testcloud
$ST metering consume --queue stacktender-metering-demo --declare-only

say "logs: a boot, a failed boot, a resize and a delete; then the failed boot traced"
SCENARIO=$($ST testcloud scenario)
echo "$SCENARIO"
FAILED=$(echo "$SCENARIO" | awk '/^failed_boot/ {print $2}')
LOGS=$STATE/logs
$ST logs trace "$FAILED" "$LOGS" | cut -c1-160

say "metering: the scenario's notifications counted, what came before backfilled, an invoice"
$ST metering consume --queue stacktender-metering-demo --until-idle 3
$ST --os-cloud testcloud-admin metering reconcile -f value -c kind | sort | uniq -c
$ST --os-cloud testcloud-admin metering invoice --project demo --period "$(date -u +%Y-%m)" \
  --prices stacktender/data/metering/prices.example.yaml

say "try next"
cat <<TXT
  $ST logs errors $LOGS                   # tracebacks grouped by exception and frame
  $ST logs merge $LOGS --since 10m -l WARNING
  $ST logs templates $LOGS -n 15
  export STACKTENDER_CONFIG=$DEMO/stacktender.yaml
  openstack --os-cloud testcloud-admin server list --all-projects
  $ST check openstack-nova-services              # a Nagios/Icinga plugin: exit code = status
  $ST sweep -f prometheus                        # or -f json / yaml / csv / nagios
  $ST testcloud down nova-compute && sleep 25 && $ST check openstack-nova-services; $ST testcloud up
  $ST history                                    # status changes recorded by sweep --record
  $ST export icinga -o /tmp/stacktender.conf     # Icinga 2 CheckCommands for every check
  $ST testcloud status                           # processes, ports, memory
  $ST metering usage --period $(date -u +%Y-%m) -c meter -c name -c flavor -c state -c seconds
  $ST api serve --os-cloud testcloud-admin --prices stacktender/data/metering/prices.example.yaml
  $ST --os-cloud testcloud-admin purge project globex --force  # a dry run: the plan, nothing deleted
TXT

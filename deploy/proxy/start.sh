#!/bin/sh
# The proxy's command: checks the settings from the environment, sets the thread
# count from the container's CPU quota, then becomes HAProxy (PID 1, in the
# foreground). haproxy.cfg reads the values as "${PROXY_*}".
#
#   PROXY_UPSTREAM          host:port of the replicas' DNS name (calculator:8000)
#   PROXY_REQUEST_TIMEOUT   seconds for a whole request, header and body, from its first
#                           byte (5): half for the header, the other half for the body
#   PROXY_UPSTREAM_TIMEOUT  seconds to wait for one replica's answer (30)
#   PROXY_RATE_LIMIT        requests per second per client address; 0 is off (0)
#   PROXY_MAX_CONNECTIONS   client connections held at once (7500)
#   PROXY_REPLICA_SLOTS     most replica addresses in the pool at once (16)
set -eu

fail() {
  printf 'proxy: %s\n' "$*" >&2
  exit 2
}

# A whole number from LOW to HIGH, or the proxy does not start.
number() {
  name=$1 value=$2 low=$3 high=$4
  case $value in
    '' | *[!0-9]*) fail "$name=$value is not a whole number from $low to $high" ;;
  esac
  if [ "${#value}" -gt 7 ] || [ "$value" -lt "$low" ] || [ "$value" -gt "$high" ]; then
    fail "$name=$value is not a whole number from $low to $high"
  fi
}

# The CPUs HAProxy may use: those it may run on, capped by the container's CPU quota
# (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us over cpu.cfs_period_us) rounded up.
# HAProxy's own default counts the CPUs it may run on, not the quota.
usable_cpus() {
  cpus=$(nproc)
  quota='' period=''
  if [ -r /sys/fs/cgroup/cpu.max ]; then
    read -r quota period </sys/fs/cgroup/cpu.max
  elif [ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    read -r quota </sys/fs/cgroup/cpu/cpu.cfs_quota_us
    read -r period </sys/fs/cgroup/cpu/cpu.cfs_period_us
  fi
  case $quota$period in
    '' | *[!0-9]*) ;; # no quota: "max", -1 or nothing to read
    *) cap=$(((quota + period - 1) / period))
       if [ "$cap" -ge 1 ] && [ "$cap" -lt "$cpus" ]; then cpus=$cap; fi ;;
  esac
  printf '%s\n' "$cpus"
}

PROXY_UPSTREAM=${PROXY_UPSTREAM:-calculator:8000}
PROXY_REQUEST_TIMEOUT=${PROXY_REQUEST_TIMEOUT:-5}
PROXY_UPSTREAM_TIMEOUT=${PROXY_UPSTREAM_TIMEOUT:-30}
PROXY_RATE_LIMIT=${PROXY_RATE_LIMIT:-0}
PROXY_MAX_CONNECTIONS=${PROXY_MAX_CONNECTIONS:-7500}
PROXY_REPLICA_SLOTS=${PROXY_REPLICA_SLOTS:-16}

case $PROXY_UPSTREAM in
  *[!A-Za-z0-9.:-]* | '' | :* | *:) fail "PROXY_UPSTREAM=$PROXY_UPSTREAM is not host:port" ;;
  *:*) ;;
  *) fail "PROXY_UPSTREAM=$PROXY_UPSTREAM is not host:port" ;;
esac
number PROXY_REQUEST_TIMEOUT "$PROXY_REQUEST_TIMEOUT" 1 3600
number PROXY_UPSTREAM_TIMEOUT "$PROXY_UPSTREAM_TIMEOUT" 1 3600
number PROXY_RATE_LIMIT "$PROXY_RATE_LIMIT" 0 1000000
number PROXY_MAX_CONNECTIONS "$PROXY_MAX_CONNECTIONS" 1 1000000
number PROXY_REPLICA_SLOTS "$PROXY_REPLICA_SLOTS" 1 1000
PROXY_THREADS=$(usable_cpus)
# HAProxy 2.6 waits for a header and for a body separately, each with a fixed time
# (the body's wait starts when the header is complete): the two halves add up to the
# whole bound, however the request is paced.
PROXY_HEADER_TIMEOUT_MS=$((PROXY_REQUEST_TIMEOUT * 500))
PROXY_BODY_TIMEOUT_MS=$((PROXY_REQUEST_TIMEOUT * 1000 - PROXY_HEADER_TIMEOUT_MS))
export PROXY_UPSTREAM PROXY_UPSTREAM_TIMEOUT PROXY_RATE_LIMIT PROXY_MAX_CONNECTIONS \
  PROXY_REPLICA_SLOTS PROXY_THREADS PROXY_HEADER_TIMEOUT_MS PROXY_BODY_TIMEOUT_MS

# -db: foreground, no daemon; logs go to stdout (haproxy.cfg).
exec haproxy -db -f /etc/haproxy/haproxy.cfg

#!/bin/sh
# The proxy's command: renders the settings from the environment into the
# files nginx.conf includes, then becomes nginx (PID 1, in the foreground).
#
#   PROXY_UPSTREAM                host:port of the replicas' DNS name (calculator:8000)
#   PROXY_UPSTREAM_TIMEOUT        seconds to wait for one replica's answer (30)
#   PROXY_CONNECTIONS_PER_CLIENT  requests in progress per client address (64)
#   PROXY_RATE_LIMIT              requests per second per client address; 0 is off (0)
#   PROXY_RATE_BURST              requests above the rate let through at once (20)
set -eu

settings=/tmp/nginx

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
  if [ "${#value}" -gt 6 ] || [ "$value" -lt "$low" ] || [ "$value" -gt "$high" ]; then
    fail "$name=$value is not a whole number from $low to $high"
  fi
}

# The CPUs nginx may use: those it may run on, capped by the container's CPU quota
# (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us over cpu.cfs_period_us) rounded up.
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

upstream=${PROXY_UPSTREAM:-calculator:8000}
upstream_timeout=${PROXY_UPSTREAM_TIMEOUT:-30}
connections=${PROXY_CONNECTIONS_PER_CLIENT:-64}
rate=${PROXY_RATE_LIMIT:-0}
burst=${PROXY_RATE_BURST:-20}

case $upstream in
  *[!A-Za-z0-9.:-]* | '' | :* | *:) fail "PROXY_UPSTREAM=$upstream is not host:port" ;;
  *:*) ;;
  *) fail "PROXY_UPSTREAM=$upstream is not host:port" ;;
esac
number PROXY_UPSTREAM_TIMEOUT "$upstream_timeout" 1 3600
number PROXY_CONNECTIONS_PER_CLIENT "$connections" 1 100000
number PROXY_RATE_LIMIT "$rate" 0 100000
number PROXY_RATE_BURST "$burst" 0 100000

mkdir -p "$settings"
printf 'worker_processes %s;\n' "$(usable_cpus)" >"$settings/main.conf"
# The $names below are nginx variables, written literally.
# shellcheck disable=SC2016
{
  printf 'map "" $calculator_upstream { default "%s"; }\n' "$upstream"
  printf 'limit_conn_zone $binary_remote_addr zone=per_client_connections:10m;\n'
  if [ "$rate" -gt 0 ]; then
    printf 'limit_req_zone $binary_remote_addr zone=per_client_rate:10m rate=%sr/s;\n' "$rate"
  fi
} >"$settings/http.conf"
{
  printf 'limit_conn per_client_connections %s;\n' "$connections"
  # nginx takes no burst=0: without the parameter there is no burst.
  if [ "$rate" -gt 0 ] && [ "$burst" -gt 0 ]; then
    printf 'limit_req zone=per_client_rate burst=%s nodelay;\n' "$burst"
  elif [ "$rate" -gt 0 ]; then
    printf 'limit_req zone=per_client_rate;\n'
  fi
  printf 'proxy_read_timeout %ss;\n' "$upstream_timeout"
} >"$settings/server.conf"

# -e: nginx opens its error log before reading nginx.conf; the compiled-in file
# would be on the read-only root.
exec nginx -e stderr -g 'daemon off;'

#!/usr/bin/env bash
# bench/http.sh - HTTPS request rate: jitgate's GET /healthz against nginx
# answering a fixed "ok" over TLS 1.3 on the same machine, same certificate,
# same wrk settings.  BENCH_NGINX_WORKERS (default auto = one per CPU) sets
# nginx's worker_processes.  Run by bench/run.sh, which provides the environment
# described in bench/lib.sh (jitgate already serving at $JG_URL).
set -euo pipefail
. "$REPO/bench/lib.sh"

ngx_dir="$BENCH_TMP/nginx"
mkdir -p "$ngx_dir/tmp"
ngx_port=$(bench_free_port)
# As root, nginx's workers switch to an unprivileged user; name one that exists
# on Debian (the compiled-in default group "nobody" does not).
ngx_user=""
[ "$(id -u)" -ne 0 ] || ngx_user="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"
cat >"$ngx_dir/nginx.conf" <<CONF
# Reference server for bench/http.sh (generated; removed with the run).
$ngx_user
worker_processes ${BENCH_NGINX_WORKERS:-auto};
daemon off;
pid $ngx_dir/nginx.pid;
error_log $ngx_dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $ngx_dir/tmp/body;
  proxy_temp_path $ngx_dir/tmp/proxy;
  fastcgi_temp_path $ngx_dir/tmp/fastcgi;
  uwsgi_temp_path $ngx_dir/tmp/uwsgi;
  scgi_temp_path $ngx_dir/tmp/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;  # like jitgate: no per-connection request cap
  server {
    listen 127.0.0.1:$ngx_port ssl;
    ssl_certificate $TLS_CERT;
    ssl_certificate_key $TLS_KEY;
    ssl_protocols TLSv1.3;
    location / {
      default_type text/plain;
      return 200 "ok";
    }
  }
}
CONF
nginx -e "$ngx_dir/error.log" -p "$ngx_dir/" -c "$ngx_dir/nginx.conf" \
  >"$ngx_dir/stdout.log" 2>&1 &
ngx_pid=$!
bench_track "$ngx_pid"
bench_wait_https "https://127.0.0.1:$ngx_port/" "$ngx_pid" nginx ||
  { cat "$ngx_dir/error.log" >&2; exit 1; }

bench_wrk nginx "https://127.0.0.1:$ngx_port/"
bench_wrk "jitgate /healthz" "$JG_URL/healthz"

bench_table "HTTPS, keep-alive, ${BENCH_CONNECTIONS} connections, ${BENCH_SECONDS}s (wrk -t${BENCH_THREADS}; nginx worker_processes ${BENCH_NGINX_WORKERS:-auto})" \
  nginx http nginx "jitgate /healthz"

# nginx keeps running for the sections that pair their runs with it (bench/run.sh stops it at the end)
echo "https://127.0.0.1:$ngx_port/" >"$BENCH_TMP/nginx_url"

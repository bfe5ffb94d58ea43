#!/usr/bin/env bash
# Starts a PostgreSQL cluster of its own, configured as README's
# "PostgreSQL settings" advise for a machine like the one the figures were
# measured on (24 GB of memory, 2 cores, an SSD), so that a benchmark can be
# run against the machine's default server and against this one in the
# same hour:
#
#   bash benchmarks/pgbench/tuned-cluster.sh            # start (create on first use)
#   DATABASE_URL=postgres://postgres@127.0.0.1:5433/bench_1m?sslmode=disable go run ./benchmarks/cmd/load ...
#   bash benchmarks/pgbench/tuned-cluster.sh stop       # stop it
#   bash benchmarks/pgbench/tuned-cluster.sh drop       # stop it and delete its data
#
# The default server keeps PostgreSQL's own defaults (shared_buffers 128 MB,
# max_wal_size 1 GB): a database of a million customers (2.7 GB) is then
# read through the operating system's page cache, and a bulk import writes
# checkpoints every minute or so. Durability is unchanged here: fsync and
# synchronous_commit stay on.
#
# Environment: PGTUNED_DIR (data directory, default /var/tmp/fiveid-pgtuned),
# PGTUNED_PORT (default 5433), PGTUNED_SHARED_BUFFERS (default 6GB, a quarter
# of the machine's memory; given to a start of an existing cluster, it
# overrides what the cluster was created with). Run as root (it runs the server as the postgres
# user, and reserves the huge pages its shared buffers need) or as the postgres user.
set -euo pipefail

dir=${PGTUNED_DIR:-/var/tmp/fiveid-pgtuned}
port=${PGTUNED_PORT:-5433}
buffers=${PGTUNED_SHARED_BUFFERS:-6GB}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
	bin=$(dirname "$(command -v initdb || command -v pg_ctl)")
fi

as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# reserve_huge_pages [-c shared_buffers=N]: as root, raises the kernel's
# reserve of huge pages (vm.nr_hugepages) to what the stopped cluster's
# shared memory needs, so that huge_pages = try gets them. It never lowers
# the reserve (`sysctl vm.nr_hugepages=0` gives the memory back). Without
# root, or when the kernel cannot find that many free 2 MB pages, the
# server uses ordinary pages, as PostgreSQL does by default.
reserve_huge_pages() {
	[ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/nr_hugepages ] || return 0
	local need total free rsvd want
	need=$(as_postgres "$bin/postgres" -D "$dir" -C shared_memory_size_in_huge_pages "$@" 2>/dev/null) || return 0
	read -r total free rsvd < <(awk '/^HugePages_Total/{t=$2} /^HugePages_Free/{f=$2} /^HugePages_Rsvd/{r=$2} END{print t, f, r}' /proc/meminfo)
	# Free pages already promised to another process are not free.
	if [ "${need:-0}" -gt $((free - rsvd)) ]; then
		want=$((total + need - (free - rsvd)))
		echo "$want" >/proc/sys/vm/nr_hugepages
		if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt "$want" ] && [ -w /proc/sys/vm/compact_memory ]; then
			# Free memory is there but scattered: gather it into 2 MB
			# blocks and ask again (for 12 GB of buffers on this
			# machine, with 21 GB free: 846 of 6,290 pages before
			# compacting, all of them after).
			echo 1 >/proc/sys/vm/compact_memory
			echo "$want" >/proc/sys/vm/nr_hugepages
		fi
		if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt "$want" ]; then
			echo "tuned-cluster: the kernel reserved $(cat /proc/sys/vm/nr_hugepages) of the $want huge pages asked for; shared buffers use ordinary pages" >&2
		fi
	fi
}

case "${1:-start}" in
start)
	if [ ! -f "$dir/PG_VERSION" ]; then
		mkdir -p "$dir"
		[ "$(id -u)" = 0 ] && chown postgres: "$dir"
		as_postgres "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
		cat >>"$dir/postgresql.conf" <<EOF
# fiveid benchmarks (benchmarks/pgbench/tuned-cluster.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_buffers = $buffers
effective_cache_size = 16GB
maintenance_work_mem = 1GB
work_mem = 16MB
wal_buffers = 16MB
max_wal_size = 8GB
min_wal_size = 2GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
random_page_cost = 1.1
# Shared buffers in 2 MB pages when the kernel has them reserved (this
# script reserves them when run as root): random reads of a large index
# need far fewer address translations. At a million customers in shared
# buffers the candidate read's average fell from 830-900 to 450-530 us.
huge_pages = try
# Writes the buffers' list every 5 minutes and reads those pages back in
# after a restart, so that a restarted server answers from memory.
shared_preload_libraries = 'pg_prewarm'
EOF
	fi
	if ! as_postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		# PGTUNED_SHARED_BUFFERS given: this start uses it, whatever the
		# cluster was created with (stop it first to change it).
		opts=()
		sized=()
		if [ -n "${PGTUNED_SHARED_BUFFERS:-}" ]; then
			opts=(-o "-c shared_buffers=$buffers")
			sized=(-c "shared_buffers=$buffers")
		fi
		reserve_huge_pages "${sized[@]}"
		as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" "${opts[@]}" -w start >/dev/null
	fi
	echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	;;
stop)
	as_postgres "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
	;;
drop)
	as_postgres "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
*)
	echo "usage: $0 [start|stop|drop]" >&2
	exit 2
	;;
esac

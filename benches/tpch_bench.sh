#!/usr/bin/env bash
# TPC-H benchmark of pg_trickle: all 22 queries as stream tables, AUTO and FULL, refreshed
# after a 1% refresh batch (new orders with their line items, deleted orders with theirs,
# updated line items).
#
#   bash benches/tpch_bench.sh              # SF=0.1
#   SF=1 bash benches/tpch_bench.sh
#
# Data comes from `tpchgen-cli` (PyPI, installed into a virtualenv cached in
# $PGT_CACHE_DIR/venv-tpch). The queries are benches/tpch/q01.sql … q22.sql: the TPC-H
# queries with their validation parameters, ORDER BY dropped where the query has no LIMIT.
# The release builds of PostgreSQL 18 and of the extension run on a throwaway cluster
# (benches/bench_cluster.sh).
#
# Round 1 times each stream table's first refresh after the first batch, each in a new
# session; round 2 times the refreshes after a third batch in one long session that has
# refreshed everything once before (the scheduler's steady state). Per query the script
# reports: FULL ms, AUTO ms and the mode AUTO used (round 2), speed-up, round 1's figures,
# whether the AUTO stream table equals its query afterwards (two-way EXCEPT ALL), AUTO's
# reasons for recomputing in full, the median speed-up of the incremental queries, and the
# first batch's DML time with and without the stream tables' change capture. It prints a
# Markdown table, also written to target/bench/tpch-sf$SF.md. PGT_BENCH_KEEP=1 leaves the
# cluster running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$PGT_REPO_ROOT"

SF="${SF:-0.1}"
data="$(bash scripts/tpch_data.sh "$SF")"

source "$(dirname "${BASH_SOURCE[0]}")/bench_cluster.sh"
bench_cluster_start

log "loading SF $SF"
psql <<SQL
CREATE EXTENSION pg_trickle;
SQL
psql -f benches/tpch/schema.sql >/dev/null
psql <<SQL
COPY region FROM '$data/region.csv' WITH (FORMAT csv, HEADER true);
COPY nation FROM '$data/nation.csv' WITH (FORMAT csv, HEADER true);
COPY part FROM '$data/part.csv' WITH (FORMAT csv, HEADER true);
COPY supplier FROM '$data/supplier.csv' WITH (FORMAT csv, HEADER true);
COPY partsupp FROM '$data/partsupp.csv' WITH (FORMAT csv, HEADER true);
COPY customer FROM '$data/customer.csv' WITH (FORMAT csv, HEADER true);
COPY orders FROM '$data/orders.csv' WITH (FORMAT csv, HEADER true);
COPY lineitem FROM '$data/lineitem.csv' WITH (FORMAT csv, HEADER true);
VACUUM ANALYZE;
SQL

# The 1% refresh batch (round r picks different orders): new orders with their line
# items (copies under new keys), deleted orders with theirs, updated line items.
batch() {
  local r="$1"
  cat <<SQL
INSERT INTO orders SELECT o_orderkey + 100000000 * $r, o_custkey, o_orderstatus, o_totalprice, o_orderdate + 7, o_orderpriority, o_clerk, o_shippriority, o_comment
  FROM orders WHERE o_orderkey % 200 = $((r * 3)) AND o_orderkey < 100000000;
INSERT INTO lineitem SELECT l_orderkey + 100000000 * $r, l_partkey, l_suppkey, l_linenumber, l_quantity, l_extendedprice, l_discount, l_tax,
                            l_returnflag, l_linestatus, l_shipdate + 7, l_commitdate + 7, l_receiptdate + 7, l_shipinstruct, l_shipmode, l_comment
  FROM lineitem WHERE l_orderkey % 200 = $((r * 3)) AND l_orderkey < 100000000;
DELETE FROM lineitem WHERE l_orderkey % 200 = $((r * 3 + 1)) AND l_orderkey < 100000000;
DELETE FROM orders WHERE o_orderkey % 200 = $((r * 3 + 1)) AND o_orderkey < 100000000;
UPDATE lineitem SET l_quantity = l_quantity + 1, l_discount = CASE WHEN l_discount < 0.10 THEN l_discount + 0.01 ELSE 0 END
 WHERE l_orderkey % 200 = $((r * 3 + 2)) AND l_orderkey < 100000000;
SQL
}
ms_of() { awk '/^Time:/ {s += $2} END {printf "%.1f", s}'; }

log "timing the batch without stream tables (rolled back)"
dml_plain=$( { echo '\timing on'; echo 'BEGIN;'; batch 1; echo 'ROLLBACK;'; } | psql | ms_of)

queries=(benches/tpch/q*.sql)
for f in "${queries[@]}"; do
  q=$(basename "$f" .sql)
  sql=$(cat "$f")
  psql -c "SELECT pgtrickle.create_stream_table('${q}_full', \$q\$$sql\$q\$, refresh_mode => 'FULL')" \
       -c "SELECT pgtrickle.create_stream_table('${q}_auto', \$q\$$sql\$q\$)" >/dev/null
done
psql -c "VACUUM ANALYZE" >/dev/null

log "applying the batch with change capture"
dml_captured=$( { echo '\timing on'; batch 1; } | psql | ms_of)

declare -A tfull tauto ttemp cfull cauto
# Round 1 (cold): each refresh is the first in a new session, so it includes translating the
# query and planning its statement. The query runs once first, so that neither refresh is
# timed with a cold buffer cache.
for f in "${queries[@]}"; do
  q=$(basename "$f" .sql)
  cfull[$q]=$(psql -c "SELECT count(*) FROM ($(cat "$f")) AS warm" -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('${q}_full')" | awk '/^Time:/ {print $2}')
  cauto[$q]=$(psql -c '\timing on' -c "SELECT pgtrickle.refresh_stream_table('${q}_auto')" | awk '/^Time:/ {print $2}')
  log "$q (first refresh, new session): FULL ${cfull[$q]} ms, AUTO ${cauto[$q]} ms"
done

# Round 2 (steady state): every refresh in one long session, as the scheduler's worker
# runs them. The session first refreshes everything after a second batch (untimed: it
# prepares each stream table's statement in this session, as the worker's earlier
# refreshes would have), then a third batch is applied and every refresh is timed. AUTO
# has measured a refresh of each kind by then.
log "round 2: a second batch, refreshed untimed in a long session; a third batch, refreshed timed in the same session"
{ batch 2; } | psql >/dev/null
script="$(mktemp)"
log_mark="$(mktemp)"
{
  for f in "${queries[@]}"; do
    q=$(basename "$f" .sql)
    for kind in full auto; do
      echo "SELECT pgtrickle.refresh_stream_table('${q}_${kind}');"
    done
  done
  batch 3
  echo "\\! stat -c %s '$dir/postgres.log' > '$log_mark'"
  echo '\timing on'
  for f in "${queries[@]}"; do
    q=$(basename "$f" .sql)
    for kind in full auto; do
      echo "\\echo @@ ${q}_${kind}"
      echo "SELECT pgtrickle.refresh_stream_table('${q}_${kind}');"
    done
  done
} > "$script"
while read -r name ms; do
  q=${name%_*}
  case "$name" in
    *_full) tfull[$q]=$ms ;;
    *_auto) tauto[$q]=$ms ;;
  esac
done < <(psql -f "$script" | awk '/^@@/ {name = $2; next} /^Time:/ && name != "" {print name, $2; name = ""}')
rm -f "$script"
log_start=$(cat "$log_mark"); rm -f "$log_mark"
sleep 0.5
# Temporary files per refresh of round 2, from the server log (log_temp_files = 0): each
# "temporary file" line is followed by the STATEMENT that wrote it.
declare -A tempbytes
while read -r name bytes; do tempbytes[$name]=$bytes; done < <(
  tail -c +"$((log_start + 1))" "$dir/postgres.log" | awk '
    /temporary file:/ {for (i = 1; i <= NF; i++) if ($i == "size") pending += $(i + 1); next}
    /STATEMENT:/ && pending > 0 {if (match($0, /refresh_stream_table\(.[a-z0-9_]+/)) {n = substr($0, RSTART + 22, RLENGTH - 22); s[n] += pending} pending = 0}
    END {for (n in s) print n, s[n]}')
for f in "${queries[@]}"; do
  q=$(basename "$f" .sql)
  ttemp[$q]=$(awk -v b="${tempbytes[${q}_auto]:-0}" 'BEGIN {printf "%.0f", b / 1048576}')
  log "$q (steady state): FULL ${tfull[$q]} ms, AUTO ${tauto[$q]} ms, AUTO temporary files ${ttemp[$q]} MB"
done

out="$PGT_REPO_ROOT/target/bench/tpch-sf$SF.md"; mkdir -p "$(dirname "$out")"
speedups="$(mktemp)"; reasons="$(mktemp)"
{
  echo "| query | mode AUTO used | FULL (ms) | AUTO (ms) | speed-up | first refresh in a new session: FULL / AUTO (ms) | AUTO temp files (MB) | AUTO equals its query |"
  echo "|---|---|---:|---:|---:|---|---:|---|"
  for f in "${queries[@]}"; do
    q=$(basename "$f" .sql)
    mode=$(psql -At -c "SELECT h.action FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = '${q}_auto' ORDER BY h.refresh_id DESC LIMIT 1")
    reason=$(psql -At -c "SELECT coalesce(h.reason, '') FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables s USING (pgt_id) WHERE s.pgt_name = '${q}_auto' ORDER BY h.refresh_id DESC LIMIT 1")
    [ -n "$reason" ] && echo "- $q: $reason" >> "$reasons"
    cols=$(psql -At -c "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '${q}_auto'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt\_%'")
    bad=$(psql -At -c "SELECT (SELECT count(*) FROM (SELECT $cols FROM ${q}_auto EXCEPT ALL SELECT * FROM ($(cat "$f")) x) a) + (SELECT count(*) FROM (SELECT * FROM ($(cat "$f")) x EXCEPT ALL SELECT $cols FROM ${q}_auto) b)")
    if [ "$bad" = 0 ]; then ok="yes"
    elif grep -qi "limit" "$f"; then
      # A top-k query whose ORDER BY leaves ties may keep other tied rows than a fresh run:
      # compare the ORDER BY values.
      keys=$(sed -n 's/.*ORDER BY \(.*\) LIMIT.*/\1/p' "$f" | sed 's/ DESC//g; s/ ASC//g')
      badk=$(psql -At -c "SELECT (SELECT count(*) FROM (SELECT $keys FROM ${q}_auto EXCEPT ALL SELECT $keys FROM ($(cat "$f")) x) a) + (SELECT count(*) FROM (SELECT $keys FROM ($(cat "$f")) x EXCEPT ALL SELECT $keys FROM ${q}_auto) b)")
      if [ "$badk" = 0 ]; then ok="yes (ties)"; else ok="**NO ($bad rows)**"; fi
    else
      ok="**NO ($bad rows)**"
    fi
    speedup=$(awk -v f="${tfull[$q]}" -v d="${tauto[$q]}" 'BEGIN {printf "%.1f", f / d}')
    [ "$mode" = DIFFERENTIAL ] && echo "$speedup" >> "$speedups"
    printf "| %s | %s | %s | %s | %sx | %s / %s (%sx) | %s | %s |\n" "$q" "$mode" "${tfull[$q]}" "${tauto[$q]}" "$speedup" \
      "${cfull[$q]}" "${cauto[$q]}" "$(awk -v f="${cfull[$q]}" -v d="${cauto[$q]}" 'BEGIN {printf "%.1f", f / d}')" "${ttemp[$q]}" "$ok"
  done
  echo
  echo
  echo "Why AUTO recomputed in full (round 2, timed):"
  cat "$reasons"
  echo
  echo "Median speed-up of the $(wc -l < "$speedups") queries AUTO refreshed incrementally: $(sort -g "$speedups" | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) printf "%.1fx\n", v[(NR + 1) / 2]; else printf "%.1fx\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')."
  echo
  echo "Batch DML: $dml_plain ms without stream tables, $dml_captured ms with change capture for 44 stream tables."
  echo
  echo "SF=$SF; $(uname -m), $(nproc) cores; PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}') (no assertions), extension release build."
} | tee "$out"
rm -f "$speedups" "$reasons"

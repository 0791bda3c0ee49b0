#!/usr/bin/env bash
# The export pipeline of Rails Redshift Replicator (RRR), reproduced with the
# real tools, for one table:
#
#   1. psql \copy (SELECT * FROM t) TO 'local file' (FORMAT csv)  -- RRR writes
#      the query result to one local CSV file
#   2. split -l ceil(rows / slices) file file.                     -- RRR's FileManager#split_file
#   3. for each slice, one after the other:                        -- RRR's FileManager#upload_gzip
#        gzip -c slice > slice.gz                                   (gzip's default level, 6)
#        aws s3 cp slice.gz s3://bucket/rrr/t/slice.gz --endpoint-url ...
#   4. rm the local files
#
#   bench/rrr_pipeline.sh TABLE WORKDIR       (prints nothing; times nothing)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

table=$1
dir=$2/rrr-$table
mkdir -p "$dir"
file=$dir/$table.csv

src -c "\\copy (SELECT * FROM $table) TO '$file' (FORMAT csv)"
rows=$(wc -l <"$file")
split -l $(((rows + BENCH_SLICES - 1) / BENCH_SLICES)) "$file" "$file."
for slice in "$file".*; do
	gzip -c "$slice" >"$slice.gz"
	aws_local s3 cp --only-show-errors "$slice.gz" "s3://$REDTRACK_S3_BUCKET/rrr/$table/$(basename "$slice").gz"
done
rm -rf "$dir"

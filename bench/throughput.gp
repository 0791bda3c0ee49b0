# Export throughput against table size (called by bench/report.py):
#   gnuplot -e "data='throughput.dat'; out='throughput.svg'; cores='2'" bench/throughput.gp
# data columns: rows, then thousand rows per second (medians) for redtrack,
# the floor and the RRR pipeline.
set terminal svg size 760,440 dynamic noenhanced font "sans,12" background rgb "white"
set output out
stats data using 1 nooutput prefix "stats_x"
set title sprintf("Export throughput against table size (%s cores; medians)", cores)
set xlabel "rows in table"
set ylabel "thousand rows per second"
set logscale x
set xrange [stats_x_min * 0.7 : stats_x_max * 1.4]
set xtics ("100 k" 1e5, "300 k" 3e5, "1 M" 1e6, "3 M" 3e6, "5 M" 5e6, "10 M" 1e7, "30 M" 3e7)
set yrange [0:*]
set grid ytics lc rgb "#dddddd"
set offsets 0, 0, graph 0.4, 0
set key top left inside vertical box opaque
plot data using 1:3 with linespoints lw 2 pt 7 lc rgb "#777777" title "floor: COPY | gzip -1 > /dev/null", \
     data using 1:2 with linespoints lw 2 pt 5 lc rgb "#c0392b" title "redtrack: rrr_export, to S3", \
     data using 1:4 with linespoints lw 2 pt 9 lc rgb "#2e86c1" title "RRR: \\copy, split, gzip, aws s3 cp"

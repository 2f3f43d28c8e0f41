"""The HTML page's sections, one module each (bench_lib.report.page puts them in order), and
layout, the pieces they share."""

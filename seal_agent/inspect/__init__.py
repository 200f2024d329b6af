"""Looking at runs, during and after: reading a run directory (`run_view`), the HTML
report and its charts (`report`, `svg_charts`), one line per node update (`streaming`),
and TensorBoard / MLflow logging (`trackers`). Reading never changes a run.
"""

"""The demo: the production-stream simulator and the timelines `challenger demo` and `challenger online-demo` replay."""

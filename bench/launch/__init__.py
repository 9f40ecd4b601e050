"""Running a sweep: in-process or on a Ray cluster, with progress lines, the summary
table at the end, and optional experiment tracking."""

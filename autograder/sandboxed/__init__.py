"""Code that runs inside the grading sandbox, in the same process as the student's code.

Nothing here decides a grade. It runs the student's cells and the probes, and it makes the
process hard to subvert from inside: no new processes (``process_filter``), an audit hook
that blocks or records what student code does (``audit``), module state restored before
every probe (``integrity``) and a record of forbidden library kernels (``kernels``). The
trusted grader reads what it reports and decides.
"""

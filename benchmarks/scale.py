"""Scale benchmarks (issue 10): per-lab cost, throughput, the nbgrader baseline, fixed costs, extrapolation.

Run with `python -m benchmarks.run --section scale` (part of `make benchmark`). Everything is measured in
one run, on correct submissions (the release with the solution's answers, as `benchmarks.run.time_grading`
builds them), copied for a class of students s01, s02, ... in the flat layout `<folder>/<student>/<lab>.ipynb`:

1. per lab, seconds per submission split into start / cells / probes / judge+other, for a cold sandbox
   (after `sandbox.SERVERS.close_all()`) and a warm one (median of WARM_REPEATS), with the memory and
   threads of the sandbox while it grades;
2. the throughput of `python -m autograder grade` with 1 and 2 worker threads and a local Dask cluster;
3. vanilla `nbgrader autograde` on the same lab-01 class, in a throw-away course folder;
4. the fixed cost of a `grade` call: `--help`, one submission (cold and warm reference cache), a regrade;
5. an extrapolation to more cores from those measurements, with what is assumed.

Importing this module is cheap (standard library and psutil only): `python -m benchmarks.scale record
TIMINGS.json -- ARGUMENTS` runs `python -m autograder ARGUMENTS` in-process and writes every sandbox job's
timings to TIMINGS.json, so that a `grade` call can be split into its sandbox time and the rest.
"""

import contextlib
import dataclasses
import datetime
import json
import math
import os
import pathlib
import platform
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
RELEASES = ROOT / "labs"
DEFAULT_DATA_FOLDER = ROOT.parent / "shared" / "data"  # the offline data sets (see labkit/data.py)

CLASS_SIZE = 12
WARM_REPEATS = 3
THROUGHPUT_LABS = ("01_optimization_basics", "05_optimizers")
BASELINE_LAB = "01_optimization_basics"  # vanilla nbgrader, the fixed-cost calls and the regrade use this lab
PREVIOUS_SECONDS = {"05_optimizers": 8.8}  # sandbox wall per submission recorded in issue 10, before the fork runner
CORE_COUNTS = (8, 64, 512)
TERM_STUDENTS = 512  # the extrapolation's class: every selected lab graded for this many students
SAMPLE_SECONDS = 0.1  # how often the memory sampler looks at a process tree
COMMAND_TIMEOUT_SECONDS = 1800
HELP_REPEATS = 3

# Assumptions of the extrapolation (each is named in the report).
DASK_TASK_OVERHEAD_SECONDS = 0.001  # "each task suffers about 1ms of overhead" (distributed.dask.org)
TENSORFLOW_POOLS = 2  # TensorFlow sizes its intra-op and inter-op thread pools to the core count
MEMORY_PER_CORE_BYTES = 4 * 2**30  # a common ratio on cloud machines: 4 GiB per core

BEGIN_MARKER = "<!-- scale: begin (rewritten by `python -m benchmarks.run --section scale`) -->"
END_MARKER = "<!-- scale: end -->"

TARGETS = {
    "fixed": "fixed cost per submission beyond its own cells and probes (start + judge+other, warm) <= 0.5 s",
    "vanilla": "lab 01, 12 submissions, 2 workers >= 10x vanilla nbgrader",
    "previous": "lab 05 >= 1.5x faster than the previous 8.8 s of sandbox wall per submission recorded in issue 10 "
                "(i.e. <= 5.9 s)",
    "workers": "2 workers >= 1.8x 1 worker on 2 cores",
    "startup": "grade start-up <= 2 s",
    "regrade": "regrade of an unchanged class <= 5 s",
}


# ---------------------------------------------------------------- pure helpers (unit-tested)

def student_ids(count):
    """s01, s02, ... for a class of count students (three digits from 100 on), so that they sort in order."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"a class needs at least one student, got {count!r}")
    width = max(2, len(str(count)))
    return [f"s{number:0{width}d}" for number in range(1, count + 1)]


def markdown_table(header, rows):
    """A markdown table (list of lines); every row must have as many cells as the header."""
    if not header:
        raise ValueError("a table needs at least one column")
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row {list(row)!r} has {len(row)} cells, the header {len(header)}: {list(header)!r}")
    lines = ["| " + " | ".join(str(cell) for cell in header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def replace_marked_section(text, section_lines, begin_marker=BEGIN_MARKER, end_marker=END_MARKER):
    """text with the part between two markers (this section's by default; markers included) replaced by section_lines.

    A text without the markers gets the section appended, so that a run of this section alone can add it to
    a RESULTS.md written before it existed. Markers out of order or repeated are refused (ValueError), since
    replacing between them could delete results.
    """
    block = "\n".join([begin_marker, *section_lines, end_marker])
    begins, ends = text.count(begin_marker), text.count(end_marker)
    if begins == 0 and ends == 0:
        return text.rstrip("\n") + ("\n\n" if text.strip() else "") + block + "\n"
    if begins != 1 or ends != 1:
        raise ValueError(f"expected one {begin_marker!r} and one {end_marker!r}, found {begins} and {ends}; "
                         "fix benchmarks/RESULTS.md by hand")
    start, end = text.index(begin_marker), text.index(end_marker)
    if end < start:
        raise ValueError(f"{end_marker!r} comes before {begin_marker!r}; fix benchmarks/RESULTS.md by hand")
    return text[:start] + block + text[end + len(end_marker):]


def per_minute(count, seconds):
    """Submissions per minute: count graded in seconds of wall time."""
    if seconds <= 0:
        raise ValueError(f"a wall time must be positive, got {seconds!r} s")
    return count * 60.0 / seconds


def ratio(numerator, denominator):
    """numerator / denominator, or None when either is missing (a failed measurement) or the denominator is 0."""
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def breakdown(total_seconds, timings):
    """start / cells / probes / judge+other of one graded submission, from the JobResult timings and its wall."""
    missing = [name for name in ("start", "cells", "probes") if name not in timings]
    if missing:
        raise ValueError(f"the sandbox job reported no {', '.join(missing)} timing (timings: {timings!r}); "
                         "did the job finish?")
    parts = {name: float(timings[name]) for name in ("start", "cells", "probes")}
    parts["judge+other"] = total_seconds - sum(parts.values())
    parts["fixed"] = parts["start"] + parts["judge+other"]
    parts["total"] = total_seconds
    return parts


def median_breakdown(breakdowns):
    """The median of each field over several breakdowns (each field on its own)."""
    if not breakdowns:
        raise ValueError("no breakdowns to take the median of")
    return {name: statistics.median(item[name] for item in breakdowns) for name in breakdowns[0]}


def scheduler_overhead_per_task(cluster_seconds, pool_seconds, cluster_fixed_seconds, tasks):
    """Seconds per task the Dask cluster adds over the local pool, beyond what it costs once per batch (>= 0)."""
    if tasks < 1:
        raise ValueError(f"need at least one task, got {tasks!r}")
    return max(0.0, (cluster_seconds - pool_seconds - cluster_fixed_seconds) / tasks)


def pools_pinned():
    """True when the sandbox fixes TensorFlow's thread pools (then a sandbox's threads do not grow with the cores)."""
    from autograder import sandbox

    environment = sandbox._child_environment("/scratch", {})
    return all(environment.get(name) for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"))


def estimated_threads(measured_threads, measured_cores, cores, pinned=False):
    """Threads of one sandbox on a machine of `cores`: constant when the pools are pinned, else one more per core each."""
    if pinned:
        return measured_threads
    return measured_threads + TENSORFLOW_POOLS * max(0, cores - measured_cores)


@dataclasses.dataclass(frozen=True)
class LabCost:
    """What one submission of a lab costs, measured warm: in the sandbox (a worker) and in the client."""

    sandbox_seconds: float  # the sandbox job (run_job), on a worker
    client_seconds: float  # preparing and judging, in the process that owns the gradebook (serial there)


@dataclasses.dataclass(frozen=True)
class ScalingInputs:
    """The measurements an extrapolation starts from."""

    lab_costs: dict  # lab_id -> LabCost
    efficiency: float  # throughput of 2 workers / (2 x 1 worker), measured on 2 cores
    scheduler_overhead: float  # seconds per task added by Dask (measured)
    memory_per_worker: int  # bytes: a warm sandbox and its child while grading (peak resident memory)
    client_memory: int  # bytes: the `grade` process itself
    measured_threads: int  # threads of one sandbox while grading, on this machine
    measured_cores: int
    thread_limit: int  # the sandbox stops a job with more threads (sandbox.Limits.threads)
    pools_pinned: bool = False  # the sandbox fixes TensorFlow's thread pools (see pools_pinned())


@dataclasses.dataclass(frozen=True)
class ScalingRow:
    """The extrapolation to one machine (or cluster) size."""

    cores: int
    workers: int
    memory_bytes: int
    threads_per_sandbox: int
    per_hour: dict  # lab_id -> submissions per hour
    bound_by: dict  # lab_id -> "sandboxes", "client" or "scheduler": the smallest of the three ceilings
    breaks_first: str


def lab_rates(cores, cost, inputs):
    """Submissions per hour of one lab on `cores` workers: the smallest of the sandbox, client and scheduler
    ceilings, and which one it is."""
    if cost.sandbox_seconds <= 0:
        raise ValueError(f"a sandbox job must take some time, got {cost.sandbox_seconds!r} s")
    ceilings = {
        "sandboxes": cores * inputs.efficiency * 3600.0 / (cost.sandbox_seconds + inputs.scheduler_overhead),
        "client": 3600.0 / cost.client_seconds if cost.client_seconds > 0 else math.inf,
        "scheduler": 3600.0 / DASK_TASK_OVERHEAD_SECONDS,
    }
    bound = min(ceilings, key=ceilings.get)
    return ceilings[bound], bound


def breaking_assumption(cores, threads, memory_bytes, bound_by, inputs):
    """One sentence: which assumption of the extrapolation fails first at this size, from the numbers."""
    if threads > inputs.thread_limit:
        return (f"TensorFlow's thread pools: about {threads} threads per sandbox would exceed the sandbox's limit of "
                f"{inputs.thread_limit}, so jobs would be stopped; pin TensorFlow's pools (TF_NUM_INTRAOP_THREADS, "
                "TF_NUM_INTEROP_THREADS) in the sandbox first")
    if memory_bytes > cores * MEMORY_PER_CORE_BYTES:
        return (f"memory: {format_bytes(memory_bytes)} is more than {format_bytes(MEMORY_PER_CORE_BYTES)} per core; "
                "run fewer sandboxes than cores")
    client_bound = sorted(lab_id for lab_id, bound in bound_by.items() if bound == "client")
    if client_bound:
        return (f"the client: preparing and judging run one at a time in the `grade` process, so "
                f"{', '.join(short_lab(lab_id) for lab_id in client_bound)} cannot use {cores} workers")
    if any(bound == "scheduler" for bound in bound_by.values()):
        return "the Dask scheduler (about 1 ms per task, from Dask's documentation)"
    return (f"none of the ceilings binds (the sandboxes are the bound); the assumption to doubt first is the 2-core "
            f"efficiency {inputs.efficiency:.2f}: {cores} sandboxes with about {threads} threads each would "
            f"oversubscribe {cores} cores")


def extrapolate(cores, inputs):
    """The ScalingRow for `cores` cores, one sandbox (worker) per core."""
    if cores < 1:
        raise ValueError(f"need at least one core, got {cores!r}")
    if not inputs.lab_costs:
        raise ValueError("no lab costs to extrapolate from")
    per_hour, bound_by = {}, {}
    for lab_id, cost in inputs.lab_costs.items():
        per_hour[lab_id], bound_by[lab_id] = lab_rates(cores, cost, inputs)
    threads = estimated_threads(inputs.measured_threads, inputs.measured_cores, cores, inputs.pools_pinned)
    memory = cores * inputs.memory_per_worker + inputs.client_memory
    return ScalingRow(cores, cores, memory, threads, per_hour, bound_by,
                      breaking_assumption(cores, threads, memory, bound_by, inputs))


def format_bytes(count):
    """Bytes as MiB below a GiB, else GiB."""
    if count < 2**30:
        return f"{count / 2**20:.0f} MiB"
    return f"{count / 2**30:.1f} GiB"


def format_seconds(seconds, digits=2):
    """Seconds for a table cell; '—' when not measured."""
    return "—" if seconds is None else f"{seconds:.{digits}f}"


def format_ratio(value):
    return "—" if value is None else f"{value:.2f}x"


def short_lab(lab_id):
    """'01' for '01_optimization_basics': the column and sentence label of a lab."""
    return lab_id.split("_", 1)[0]


# ---------------------------------------------------------------- measuring, in this process

@contextlib.contextmanager
def recording_jobs(records):
    """While active, every `sandbox.run_job` call appends its JobResult to records (grading calls it by module)."""
    from autograder import sandbox

    original = sandbox.run_job

    def recorded_run_job(job, *arguments, **keywords):
        result = original(job, *arguments, **keywords)
        records.append((job, result))
        return result

    sandbox.run_job = recorded_run_job
    try:
        yield records
    finally:
        sandbox.run_job = original


def _tree_members(root, include_root):
    """The processes of a tree (root and every descendant)."""
    try:
        members = root.children(recursive=True)
    except psutil.Error:
        return []
    return ([root] if include_root else []) + members


def tree_usage(processes):
    """(resident bytes, proportional-set bytes, threads) summed over processes; PSS falls back to RSS."""
    resident = proportional = threads = 0
    for process in processes:
        try:
            with process.oneshot():
                rss = process.memory_info().rss
                threads += process.num_threads()
            try:
                pss = process.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                pss = rss
        except psutil.Error:
            continue
        resident += rss
        proportional += pss
    return resident, proportional, threads


class TreeSampler:
    """Peak memory and threads of a process tree, sampled in a background thread while a block runs.

    Why: the memory a worker needs is that of a warm sandbox and its child while they grade, which only
    exists during the job. RSS counts pages shared between the fork runner and its child twice (an upper
    bound); PSS shares them out (what the machine really spends).
    """

    def __init__(self, root_pid, include_root=True, interval=SAMPLE_SECONDS):
        self.root = psutil.Process(root_pid)
        self.include_root = include_root
        self.interval = interval
        self.peak_rss = self.peak_pss = self.peak_threads = self.peak_root_rss = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self):
        """Take one sample now and keep the peaks."""
        rss, pss, threads = tree_usage(_tree_members(self.root, self.include_root))
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        self.peak_threads = max(self.peak_threads, threads)
        with contextlib.suppress(psutil.Error):
            self.peak_root_rss = max(self.peak_root_rss, self.root.memory_info().rss)

    def _run(self):
        while not self._stopping.wait(self.interval):
            self.sample()

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exception_info):
        self._stopping.set()
        self._thread.join()
        return False


def write_class(folder, lab_id, count):
    """A class of `count` correct submissions of a lab, <folder>/<student>/<lab_id>.ipynb; returns the folder."""
    from autograder import samples

    folder = pathlib.Path(folder)
    notebook = samples.make_submission(RELEASES / lab_id / f"{lab_id}.ipynb", SOLUTIONS / lab_id / f"{lab_id}.ipynb")
    first, *others = student_ids(count)
    path = samples.write_notebook(notebook, folder / first / f"{lab_id}.ipynb")
    for student in others:
        (folder / student).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / student / f"{lab_id}.ipynb")
    return folder


@dataclasses.dataclass
class LabMeasurement:
    """Section 1 for one lab: references, a cold grade, warm grades and the sandbox's peak usage."""

    lab_id: str
    references: dict
    reference_seconds: float
    cold: dict  # breakdown()
    warm: list  # breakdown() of each warm grade
    warm_flags: list  # JobResult.timings["warm"] of the cold grade, then of each warm one
    client_seconds: float  # median of the warm grades' preparing and judging (total - sandbox job)
    sandbox_seconds: float  # median of the warm grades' sandbox job seconds
    peak_rss: int
    peak_pss: int
    peak_threads: int
    thread_limit: int

    @property
    def warm_median(self):
        return median_breakdown(self.warm)

    @property
    def import_seconds(self):
        """What a cold start costs beyond a warm one: importing TensorFlow/Keras in a new sandbox."""
        return self.cold["start"] - self.warm_median["start"]


def _timed_grade(lab, path, references, isolation):
    """Grade one submission with grading.grade_notebook: (breakdown, sandbox JobResult); its score must be full."""
    from autograder import grading

    records = []
    with recording_jobs(records):
        started = time.perf_counter()
        result = grading.grade_notebook(lab, path, "benchmark", references, isolation)
        seconds = time.perf_counter() - started
    if not result.graded or result.score != lab.max_points:
        raise RuntimeError(f"{lab.lab_id}: the solution scored {result.score}/{lab.max_points} "
                           f"({result.status}: {result.reason or result.incidents})")
    if len(records) != 1:
        raise RuntimeError(f"{lab.lab_id}: expected one sandbox job per grade, saw {len(records)}")
    job_result = records[0][1]
    return breakdown(seconds, job_result.timings), job_result


def measure_lab(lab_id, scratch, repeats=WARM_REPEATS):
    """Section 1 for one lab: references (cold), one grade in a cold sandbox, `repeats` in a warm one."""
    from autograder import lab as lab_module, grading, sandbox

    isolation = sandbox.resolve_isolation("auto")
    lab = lab_module.load_lab(SOLUTIONS / lab_id / f"{lab_id}.ipynb")
    path = write_class(pathlib.Path(scratch) / f"one-{lab_id}", lab_id, 1) / student_ids(1)[0] / f"{lab_id}.ipynb"
    sandbox.SERVERS.close_all()
    started = time.perf_counter()
    references = grading.compute_references(lab, isolation)
    reference_seconds = time.perf_counter() - started
    sandbox.SERVERS.close_all()  # the references' sandbox would serve the first grade warm
    cold, cold_job = _timed_grade(lab, path, references, isolation)
    warm, flags, client, jobs = [], [cold_job.timings.get("warm")], [], []
    with TreeSampler(os.getpid(), include_root=False) as sampler:
        for _ in range(repeats):
            timing, job_result = _timed_grade(lab, path, references, isolation)
            warm.append(timing)
            flags.append(job_result.timings.get("warm"))
            jobs.append(job_result.seconds)
            client.append(timing["total"] - job_result.seconds)
    sandbox.SERVERS.close_all()
    return LabMeasurement(lab_id, references, reference_seconds, cold, warm, flags, statistics.median(client),
                          statistics.median(jobs), sampler.peak_rss, sampler.peak_pss, sampler.peak_threads,
                          lab.limits.threads)


def fill_reference_cache(lab_id, folder, references=None):
    """Store a lab's references in the reference cache at folder, computing them when not given.

    Why: the throughput runs measure grading, not the once-per-lab references (section 1 reports those).
    """
    from autograder import lab as lab_module, grading, reference_cache

    lab = lab_module.load_lab(SOLUTIONS / lab_id / f"{lab_id}.ipynb")
    if references is None:
        references = grading.compute_references(lab)
    if not reference_cache.write_entry(folder, reference_cache.cache_key(lab), lab_id, references):
        raise RuntimeError(f"could not write the reference cache in {folder}")


# ---------------------------------------------------------------- measuring other processes

@dataclasses.dataclass
class TimedCommand:
    """A command's wall seconds, exit status, output and the peak usage of its process tree."""

    seconds: float
    returncode: int
    output: str
    peak_rss: int
    peak_pss: int
    peak_client_rss: int


def run_timed(command, environment=None, cwd=ROOT, sample=True):
    """Run a command, timing the wall around it and sampling its process tree; RuntimeError if it hangs."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace")
    sampler = TreeSampler(process.pid) if sample else contextlib.nullcontext()
    with sampler:
        try:
            output, _ = process.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError(f"{' '.join(map(str, command))} took longer than {COMMAND_TIMEOUT_SECONDS} s")
    seconds = time.perf_counter() - started
    peaks = (sampler.peak_rss, sampler.peak_pss, sampler.peak_root_rss) if sample else (0, 0, 0)
    return TimedCommand(seconds, process.returncode, output, *peaks)


def _grading_environment(cache_folder):
    """The environment of a `grade` call: this one, with its reference cache at cache_folder."""
    return dict(os.environ, AUTOGRADER_CACHE=str(cache_folder), LABKIT_MODE="fast")


def _first_not_graded(output):
    """' (s01 ...: NOT GRADED: why)' from a grading folder's log, or '' when it names none."""
    log = pathlib.Path(output) / "grading.log"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    reasons = [line for line in lines if "NOT GRADED" in line]
    return f" ({reasons[0][:300]})" if reasons else ""


def run_grade(submissions, lab_id, output, cache_folder, options, timings_path, force=True):
    """`python -m autograder grade` through the recorder: (TimedCommand, recorded jobs); RuntimeError on failure."""
    arguments = ["--solutions", str(SOLUTIONS), "grade", str(submissions), "--lab", lab_id, "--output", str(output),
                 "--quiet", *options] + (["--force"] if force else [])
    command = [sys.executable, "-m", "benchmarks.scale", "record", str(timings_path), "--", *arguments]
    timed = run_timed(command, _grading_environment(cache_folder))
    if timed.returncode != 0:
        raise RuntimeError(f"grade {' '.join(options)} exited with {timed.returncode}{_first_not_graded(output)}:\n"
                           f"{timed.output[-2000:]}")
    return timed, json.loads(pathlib.Path(timings_path).read_text())["jobs"]


def check_full_scores(output, lab_id, count):
    """RuntimeError unless output/results holds `count` graded results of lab_id, each with full marks."""
    from autograder import batch

    results = [result for result in batch.load_results(pathlib.Path(output) / "results") if result.lab_id == lab_id]
    wrong = [f"{result.student_id}: {result.score}/{result.max_score} ({result.status})" for result in results
             if not result.graded or result.score != result.max_score]
    if len(results) != count or wrong:
        raise RuntimeError(f"{output}: expected {count} full-mark results of {lab_id}, got {len(results)}; {wrong}")


CLUSTER_FIXED_COST_PROGRAM = """
import time


def warm_up():
    # What a Dask worker does before its first sandbox job (autograder.workers.run_on_worker).
    from autograder import fingerprint, sandbox, workers
    sandbox.resolve_isolation("bwrap")
    fingerprint.grader_version()


if __name__ == "__main__":
    from autograder import workers
    started = time.perf_counter()
    engine = workers.DaskEngine.start_local({workers})
    ready = time.perf_counter()
    addresses = list(engine.client.scheduler_info()["workers"])
    engine.client.gather([engine.client.submit(warm_up, workers=[address], pure=False) for address in addresses])
    warm = time.perf_counter()
    engine.close()
    print("SECONDS", ready - started, warm - ready, time.perf_counter() - warm)
"""


def measure_cluster_fixed_cost(workers):
    """Seconds `grade --cluster local:N` spends once per batch, in a fresh process: starting the cluster, the
    workers' preparation before their first job (imports, the sandbox check), and closing it.

    Why: the cluster's extra wall over the thread pool is these plus a cost per task; only the latter grows
    with the class.
    """
    timed = run_timed([sys.executable, "-c", CLUSTER_FIXED_COST_PROGRAM.format(workers=int(workers))], sample=False)
    if timed.returncode != 0 or "SECONDS" not in timed.output:
        raise RuntimeError(f"the local Dask cluster did not start and stop:\n{timed.output[-2000:]}")
    start, warm_up, close = (float(value) for value in timed.output.rsplit("SECONDS", 1)[1].split()[:3])
    return {"start": start, "warm-up": warm_up, "close": close}


@dataclasses.dataclass
class ThroughputRun:
    """One `grade` call of section 2 (or the reason it failed)."""

    label: str
    count: int
    seconds: float = None
    peak_rss: int = 0
    peak_pss: int = 0
    peak_client_rss: int = 0
    jobs: list = dataclasses.field(default_factory=list)
    error: str = ""
    output_folder: pathlib.Path = None  # where it graded (the regrade of part 4 runs there again)
    note: str = ""  # something that makes this run not what was meant to be measured

    @property
    def per_minute(self):
        return None if self.seconds is None else per_minute(self.count, self.seconds)


THROUGHPUT_CONFIGURATIONS = (("1 worker", ("--workers", "1")), ("2 workers", ("--workers", "2")),
                             ("local Dask cluster of 2", ("--cluster", "local:2")))


def measure_throughput(lab_id, class_folder, count, cache_folder, scratch):
    """Section 2 for one lab: the class graded by each configuration into a fresh output folder."""
    runs = {}
    for label, options in THROUGHPUT_CONFIGURATIONS:
        output = pathlib.Path(tempfile.mkdtemp(prefix=f"grade-{short_lab(lab_id)}-", dir=scratch))
        run = ThroughputRun(label, count)
        try:
            timed, jobs = run_grade(class_folder, lab_id, output, cache_folder, options, output / "timings.json")
            check_full_scores(output, lab_id, count)
            run.seconds, run.jobs = timed.seconds, jobs
            if any(job["kind"] == "references" for job in jobs):
                run.note = "the reference cache missed: this call computed the references"
            run.peak_rss, run.peak_pss, run.peak_client_rss = timed.peak_rss, timed.peak_pss, timed.peak_client_rss
        except RuntimeError as error:
            run.error = str(error).splitlines()[0][:200]
        run.output_folder = output
        runs[label] = run
        print(f"  {lab_id} {label}: {format_seconds(run.seconds, 1)} s {run.error}{run.note}", flush=True)
    return runs


# ---------------------------------------------------------------- vanilla nbgrader

NBGRADER_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "benchmark"
c.CourseDirectory.db_url = "sqlite:///{database}"
c.ExecutePreprocessor.timeout = 600
"""


def _nbgrader_environment():
    """LABKIT_MODE=fast like the project's grading, the virtualenv first on PATH (nbgrader runs alembic from it)
    and the offline data folder, so that the kernel finds MNIST as the solution notebooks' tests do."""
    environment = dict(os.environ, LABKIT_MODE="fast")
    environment["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + environment.get("PATH", "")
    if not environment.get("LABKIT_DATA_DIR") and DEFAULT_DATA_FOLDER.is_dir():
        environment["LABKIT_DATA_DIR"] = str(DEFAULT_DATA_FOLDER)
    return environment


def _nbgrader(arguments, course, environment):
    """Run one nbgrader command in the course folder; RuntimeError with its output when it fails."""
    executable = pathlib.Path(sys.executable).parent / "nbgrader"
    if not executable.exists():
        raise RuntimeError(f"nbgrader is not installed beside {sys.executable}; `make install` installs it")
    timed = run_timed([str(executable), *arguments], environment, cwd=course, sample=False)
    if timed.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(arguments)} exited with {timed.returncode}:\n{timed.output[-2000:]}")
    return timed


def make_nbgrader_course(course, lab_id, class_folder, students):
    """A throw-away nbgrader course: config, source, generated assignment, students and their submissions."""
    course = pathlib.Path(course)
    (course / "source" / lab_id).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(database=course / "gradebook.db"))
    shutil.copyfile(SOLUTIONS / lab_id / f"{lab_id}.ipynb", course / "source" / lab_id / f"{lab_id}.ipynb")
    (course / "students.csv").write_text("id\n" + "\n".join(students) + "\n")
    environment = _nbgrader_environment()
    _nbgrader(["db", "student", "import", "students.csv"], course, environment)
    _nbgrader(["generate_assignment", lab_id], course, environment)
    for student in students:
        target = course / "submitted" / student / lab_id / f"{lab_id}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copyfile(pathlib.Path(class_folder) / student / f"{lab_id}.ipynb", target)
    return environment


def nbgrader_scores(course, lab_id, students):
    """student -> (score, max score) from the course's gradebook."""
    from nbgrader import api as nbgrader_api

    scores = {}
    with nbgrader_api.Gradebook(f"sqlite:///{pathlib.Path(course) / 'gradebook.db'}") as book:
        for student in students:
            submitted = book.find_submission(lab_id, student)
            scores[student] = (submitted.score, submitted.max_score)
    return scores


def time_nbgrader(lab_id, class_folder, count, scratch):
    """Seconds of `nbgrader autograde LAB --force` on the class; RuntimeError unless every score is full."""
    course = pathlib.Path(scratch) / "nbgrader-course"
    students = student_ids(count)
    environment = make_nbgrader_course(course, lab_id, class_folder, students)
    timed = _nbgrader(["autograde", lab_id, "--force"], course, environment)
    scores = nbgrader_scores(course, lab_id, students)
    wrong = {student: score for student, score in scores.items() if score[0] != score[1] or score[1] <= 0}
    if wrong:
        hint = "" if environment.get("LABKIT_DATA_DIR") else " (no data folder: set LABKIT_DATA_DIR)"
        raise RuntimeError(f"vanilla nbgrader did not give full marks{hint}: {wrong}")
    return timed.seconds


# ---------------------------------------------------------------- fixed cost of a `grade` call

def time_help(repeats=HELP_REPEATS):
    """Median wall seconds of `python -m autograder --help`."""
    durations = []
    for _ in range(repeats):
        timed = run_timed([sys.executable, "-m", "autograder", "--help"], sample=False)
        if timed.returncode != 0:
            raise RuntimeError(f"python -m autograder --help exited with {timed.returncode}:\n{timed.output[-2000:]}")
        durations.append(timed.seconds)
    return statistics.median(durations)


@dataclasses.dataclass
class SingleGrade:
    """A `grade` of one submission: wall, its sandbox job, the references' jobs, and the rest."""

    label: str
    seconds: float
    sandbox_seconds: float
    start_seconds: float
    reference_seconds: float

    @property
    def rest(self):
        """Everything but the submission's own sandbox job: interpreter, imports, references, judging, commit."""
        return self.seconds - self.sandbox_seconds


def time_single_grade(label, lab_id, class_folder, cache_folder, scratch):
    """One submission graded by `grade` with the given reference cache; its sandbox time from the recorder."""
    single = pathlib.Path(scratch) / f"single-{short_lab(lab_id)}"
    if not single.exists():
        first = student_ids(1)[0]
        (single / first).mkdir(parents=True)
        shutil.copyfile(pathlib.Path(class_folder) / first / f"{lab_id}.ipynb", single / first / f"{lab_id}.ipynb")
    output = pathlib.Path(tempfile.mkdtemp(prefix="single-", dir=scratch))
    timed, jobs = run_grade(single, lab_id, output, cache_folder, ("--workers", "1"), output / "timings.json")
    check_full_scores(output, lab_id, 1)
    submission_jobs = [job for job in jobs if job["kind"] == "submission"]
    reference_jobs = [job for job in jobs if job["kind"] == "references"]
    if len(submission_jobs) != 1:
        raise RuntimeError(f"expected one submission job in {output / 'timings.json'}, found {len(submission_jobs)}")
    return SingleGrade(label, timed.seconds, submission_jobs[0]["seconds"],
                       submission_jobs[0]["timings"].get("start", 0.0), sum(job["seconds"] for job in reference_jobs))


def time_regrade(lab_id, class_folder, output, count):
    """Wall seconds of grading an unchanged, already graded class again (every submission skipped)."""
    arguments = [sys.executable, "-m", "autograder", "--solutions", str(SOLUTIONS), "grade", str(class_folder),
                 "--lab", lab_id, "--output", str(output), "--quiet", "--workers", "1"]
    timed = run_timed(arguments, _grading_environment(pathlib.Path(output) / "unused-cache"), sample=False)
    expected = f"0 graded, {count} skipped"
    if timed.returncode != 0 or expected not in timed.output:
        progress = [line for line in timed.output.splitlines() if " graded, " in line]
        raise RuntimeError(f"the regrade did not skip all {count} submissions (exit {timed.returncode}, "
                           f"{progress[-1] if progress else 'no summary'}; did the grader's sources change during "
                           f"the run?):\n{timed.output[-2000:]}")
    return timed.seconds


# ---------------------------------------------------------------- the section

@dataclasses.dataclass
class ScaleResults:
    """Everything section `scale` measured; None or empty where a part was not selected or failed."""

    count: int
    labs: dict = dataclasses.field(default_factory=dict)  # lab_id -> LabMeasurement
    throughput: dict = dataclasses.field(default_factory=dict)  # lab_id -> label -> ThroughputRun
    cluster_fixed: dict = None  # measure_cluster_fixed_cost(2)
    nbgrader_seconds: float = None
    nbgrader_error: str = ""
    help_seconds: float = None
    single_grades: list = dataclasses.field(default_factory=list)
    regrade_seconds: float = None
    fixed_error: str = ""
    part_seconds: dict = dataclasses.field(default_factory=dict)  # how long each part of this run took


@contextlib.contextmanager
def _timed_part(results, name):
    """Record how long a part of the section took (the whole run must stay short enough to run often)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        results.part_seconds[name] = time.perf_counter() - started


def _measure_labs(results, lab_ids, scratch, lab_measurements):
    """Part 1 for every selected lab, reusing what the grading section measured already."""
    for lab_id in lab_ids:
        if lab_measurements and lab_id in lab_measurements:
            results.labs[lab_id] = lab_measurements[lab_id]
            continue
        results.labs[lab_id] = measure_lab(lab_id, scratch)
        print(f"  {lab_id}: cold {results.labs[lab_id].cold['total']:.2f} s, "
              f"warm {results.labs[lab_id].warm_median['total']:.2f} s", flush=True)


def _prepare_classes(results, lab_ids, scratch):
    """The classes parts 2 to 4 grade, and a reference cache holding their labs' references."""
    warm_cache = scratch / "reference-cache"
    classes = {}
    for lab_id in [lab_id for lab_id in lab_ids if lab_id in THROUGHPUT_LABS or lab_id == BASELINE_LAB]:
        classes[lab_id] = write_class(scratch / f"class-{short_lab(lab_id)}", lab_id, results.count)
        fill_reference_cache(lab_id, warm_cache, results.labs[lab_id].references)
    return classes, warm_cache


def _measure_all_throughput(results, classes, warm_cache, scratch):
    """Part 2 for the selected throughput labs, and what the local Dask cluster costs once per batch."""
    # The baseline lab last: part 4's regrade runs again in its last output folder, before anything can change.
    throughput_labs = sorted((lab_id for lab_id in classes if lab_id in THROUGHPUT_LABS),
                             key=lambda lab_id: lab_id == BASELINE_LAB)
    if not throughput_labs:
        return
    with contextlib.suppress(RuntimeError):  # the cluster rows then show their own failure
        results.cluster_fixed = measure_cluster_fixed_cost(2)
    for lab_id in throughput_labs:
        results.throughput[lab_id] = measure_throughput(lab_id, classes[lab_id], results.count, warm_cache, scratch)


def _measure_nbgrader(results, class_folder, scratch):
    """Part 3: vanilla nbgrader on the baseline lab's class."""
    try:
        results.nbgrader_seconds = time_nbgrader(BASELINE_LAB, class_folder, results.count, scratch)
    except RuntimeError as error:
        results.nbgrader_error = str(error).splitlines()[0][:300]
    print(f"  vanilla nbgrader: {format_seconds(results.nbgrader_seconds, 1)} s {results.nbgrader_error}", flush=True)


def measure(lab_ids, count=CLASS_SIZE, lab_measurements=None):
    """Run every part of the section for the selected labs; lab_measurements: part 1, when already measured."""
    results = ScaleResults(count)
    with tempfile.TemporaryDirectory(prefix="benchmark-scale-") as scratch:
        scratch = pathlib.Path(scratch)
        # Measured by the grading section when it runs too (then its time is that section's, not counted here).
        with _timed_part(results, "per-lab cost" if lab_measurements is None else "per-lab cost, beyond the grading "
                                                                                  "section's"):
            _measure_labs(results, lab_ids, scratch, lab_measurements)
        with _timed_part(results, "classes and reference cache"):
            classes, warm_cache = _prepare_classes(results, lab_ids, scratch)
        with _timed_part(results, "throughput"):
            _measure_all_throughput(results, classes, warm_cache, scratch)
        if BASELINE_LAB in classes:
            with _timed_part(results, "fixed costs"):
                _measure_fixed_costs(results, classes[BASELINE_LAB], warm_cache, scratch)
            with _timed_part(results, "vanilla nbgrader"):
                _measure_nbgrader(results, classes[BASELINE_LAB], scratch)
    return results


def _measure_fixed_costs(results, class_folder, warm_cache, scratch):
    """Part 4: a regrade of the class just graded, --help, one submission with a cold and a warm reference cache."""
    try:
        graded = [run for run in results.throughput.get(BASELINE_LAB, {}).values() if not run.error]
        if graded:
            results.regrade_seconds = time_regrade(BASELINE_LAB, class_folder, graded[-1].output_folder, results.count)
        results.help_seconds = time_help()
        cold_cache = pathlib.Path(tempfile.mkdtemp(prefix="cold-cache-", dir=scratch))
        results.single_grades.append(time_single_grade("cold reference cache", BASELINE_LAB, class_folder,
                                                       cold_cache, scratch))
        results.single_grades.append(time_single_grade("warm reference cache", BASELINE_LAB, class_folder,
                                                       warm_cache, scratch))
    except RuntimeError as error:
        results.fixed_error = str(error).splitlines()[0][:300]
    print(f"  fixed costs: help {format_seconds(results.help_seconds)} s, regrade "
          f"{format_seconds(results.regrade_seconds)} s {results.fixed_error}", flush=True)


# ---------------------------------------------------------------- the report

def machine_line():
    """'Measured DATE on N CPU cores, Python X' for the caption of every table."""
    return (f"Measured {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}")


def _caption(what, targets):
    return [f"{machine_line()}; {what}.", "Targets: " + "; ".join(TARGETS[name] for name in targets) + ".", ""]


BREAKDOWN_FIELDS = ("start", "cells", "probes", "judge+other", "total", "fixed")


def lab_lines(results):
    """Section 1's table: a cold and a warm row per lab."""
    rows = []
    for lab_id, measured in results.labs.items():
        reused = measured.warm_flags[0] is False and all(measured.warm_flags[1:])
        label = lab_id if reused else f"{lab_id} (sandbox reuse differed: {measured.warm_flags})"
        rows.append([label, "cold"] + [format_seconds(measured.cold[name]) for name in BREAKDOWN_FIELDS]
                    + ["—", "—", "—", format_seconds(measured.reference_seconds, 1)])
        warm = measured.warm_median
        rows.append([label, f"warm (median of {len(measured.warm)})"]
                    + [format_seconds(warm[name]) for name in BREAKDOWN_FIELDS]
                    + [format_seconds(measured.import_seconds),
                       f"{format_bytes(measured.peak_rss)} ({format_bytes(measured.peak_pss)})",
                       f"{measured.peak_threads} / {measured.thread_limit}", "—"])
    header = ["lab", "sandbox", "start", "cells", "probes", "judge+other", "total", "start + judge+other",
              "import cost (cold − warm start)", "peak memory of the sandbox, RSS (PSS)", "peak threads / limit",
              "references (once per lab)"]
    return (["### Seconds per submission, cold and warm sandbox", ""]
            + _caption("`grading.grade_notebook` on one correct submission, start / cells / probes from the "
                       "`sandbox.run_job` timings, judge+other = the rest of the wall (preparing, handing over, the "
                       "sandbox's exit, judging); cold: after `sandbox.SERVERS.close_all()`; memory and threads: "
                       "the sandbox's processes (bwrap, fork runner, child) while grading warm, where RSS counts the "
                       "pages the fork runner shares with its child twice and PSS shares them out",
                       ["fixed", "previous"])
            + markdown_table(header, rows))


def _previous_note(results):
    """Lab 05 against the cost recorded in issue 10 (before the fork runner)."""
    measured = results.labs.get("05_optimizers")
    if measured is None:
        return []
    previous = PREVIOUS_SECONDS["05_optimizers"]
    line = (f"Lab 05 against issue 10: the previous figure is the {previous} s of sandbox wall per submission recorded "
            f"in the issue; now a warm sandbox job takes {measured.sandbox_seconds:.2f} s "
            f"({previous / measured.sandbox_seconds:.2f}x) and the whole grade {measured.warm_median['total']:.2f} s")
    batch = results.throughput.get("05_optimizers", {}).get("1 worker")
    if batch is not None and batch.seconds:
        per_submission = batch.seconds / batch.count
        line += (f"; the 1-worker batch above spends {per_submission:.2f} s of wall per submission, everything "
                 f"included ({previous / per_submission:.2f}x)")
    return ["", line + "."]


def throughput_lines(results):
    """Section 2's table, with the nbgrader baseline."""
    rows = []
    for lab_id, runs in sorted(results.throughput.items()):
        one = runs["1 worker"].per_minute
        for label, run in runs.items():
            rate = run.per_minute
            vanilla = (ratio(rate, per_minute(results.count, results.nbgrader_seconds))
                       if lab_id == BASELINE_LAB and results.nbgrader_seconds else None)
            memory = f"{format_bytes(run.peak_rss)} ({format_bytes(run.peak_pss)})" if run.peak_rss else "—"
            rows.append([lab_id, label, format_seconds(run.seconds, 1), format_seconds(rate, 1),
                         format_ratio(ratio(rate, one)), format_ratio(vanilla), memory,
                         f"failed: {run.error}" if run.error else run.note])
        if lab_id == BASELINE_LAB:
            seconds = results.nbgrader_seconds
            rate = per_minute(results.count, seconds) if seconds else None
            rows.append([lab_id, "vanilla `nbgrader autograde`", format_seconds(seconds, 1), format_seconds(rate, 1),
                         "—", "1.00x", "—", f"failed: {results.nbgrader_error}" if results.nbgrader_error else ""])
    header = ["lab", "grader", "wall seconds", "submissions per minute", "vs 1 worker", "vs vanilla nbgrader",
              "peak memory of the call, RSS (PSS)", "note"]
    return (["### Throughput", ""]
            + _caption(f"{results.count} correct submissions per lab, `python -m autograder grade --force` into a "
                       "fresh output folder, wall time around the subprocess (the interpreter start, cold sandboxes "
                       "and a warm reference cache included; run through `python -m benchmarks.scale record`, which "
                       "runs `python -m autograder` in-process and records its sandbox jobs); vanilla nbgrader: "
                       "`nbgrader autograde --force` in a throw-away course on the same files, LABKIT_MODE=fast",
                       ["vanilla", "workers", "previous"])
            + markdown_table(header, rows) + _cluster_note(results) + _previous_note(results))


def _cluster_note(results):
    """What the local Dask cluster costs once per batch, and per task beyond that."""
    if results.cluster_fixed is None or not results.throughput:
        return []
    fixed = results.cluster_fixed
    inputs = scaling_inputs(results)
    if inputs is None:
        return []
    return ["", f"The local Dask cluster costs {sum(fixed.values()):.1f} s once per batch, measured in a separate "
                f"process: starting it {fixed['start']:.1f} s, its workers' preparation before their first job "
                f"(imports, the sandbox check) {fixed['warm-up']:.1f} s, closing it {fixed['close']:.1f} s; beyond "
                f"that it adds {inputs.scheduler_overhead:.3f} s per task over the 2 threads (the largest over the "
                "labs above, never below 0)."]


def fixed_lines(results):
    """Part 4's table."""
    rows = []
    if results.help_seconds is not None:
        rows.append(["`python -m autograder --help`", format_seconds(results.help_seconds), "—", "—",
                     format_seconds(results.help_seconds)])
    for single in results.single_grades:
        rows.append([f"`grade` of one lab-01 submission, {single.label}", format_seconds(single.seconds),
                     f"{single.sandbox_seconds:.2f} (start {single.start_seconds:.2f})",
                     format_seconds(single.reference_seconds), format_seconds(single.rest)])
    if results.regrade_seconds is not None:
        rows.append([f"regrade of the unchanged class of {results.count} (all skipped)",
                     format_seconds(results.regrade_seconds), "—", "—", format_seconds(results.regrade_seconds)])
    if results.fixed_error:
        rows.append([f"failed: {results.fixed_error}", "—", "—", "—", "—"])
    header = ["call", "wall seconds", "its sandbox job (of which start)", "references' sandbox jobs",
              "start-up and rest (wall − its sandbox job)"]
    return (["### Fixed cost of a `grade` call", ""]
            + _caption("each `grade` call's sandbox jobs are recorded by `python -m benchmarks.scale record` (it runs "
                       "`python -m autograder` in-process); lab 01's references are literal values (no sandbox, "
                       "nothing cached), so its cold and warm cache calls differ only by noise; the references column "
                       "of the first table is what a cold cache costs for the other labs", ["startup", "regrade"])
            + markdown_table(header, rows))


def scaling_inputs(results):
    """The extrapolation's inputs from the measurements, or None when section 1 measured no lab."""
    if not results.labs:
        return None
    # The 2-worker speed-up of the lab whose batch is longest: the least diluted by the once-per-call start-up.
    # Runs with a note (the reference cache missed) measured more than grading: left out.
    measured = [runs for runs in results.throughput.values()
                if all(runs[label].seconds is not None and not runs[label].note
                       for label in ("1 worker", "2 workers"))]
    longest = max(measured, key=lambda runs: runs["1 worker"].seconds, default=None)
    speedup = ratio(longest["2 workers"].per_minute, longest["1 worker"].per_minute) if longest else None
    overheads = [scheduler_overhead_per_task(runs["local Dask cluster of 2"].seconds, runs["2 workers"].seconds,
                                             sum(results.cluster_fixed.values()), results.count)
                 for runs in results.throughput.values()
                 if runs["local Dask cluster of 2"].seconds and runs["2 workers"].seconds
                 and results.cluster_fixed is not None]
    clients = [run.peak_client_rss for runs in results.throughput.values() for run in runs.values() if run.peak_rss]
    return ScalingInputs(
        lab_costs={lab_id: LabCost(measured.sandbox_seconds, measured.client_seconds)
                   for lab_id, measured in results.labs.items()},
        efficiency=speedup / 2 if speedup is not None else 1.0,
        scheduler_overhead=max(overheads) if overheads else 0.0,
        memory_per_worker=max(measured.peak_rss for measured in results.labs.values()),
        client_memory=max(clients) if clients else 0,
        measured_threads=max(measured.peak_threads for measured in results.labs.values()),
        measured_cores=os.cpu_count() or 1,
        thread_limit=min(measured.thread_limit for measured in results.labs.values()),
        pools_pinned=pools_pinned(),
    )


def extrapolation_lines(results):
    """Part 5's table and its assumptions."""
    inputs = scaling_inputs(results)
    if inputs is None:
        return []
    rows = []
    lab_ids = list(inputs.lab_costs)
    for cores in CORE_COUNTS:
        row = extrapolate(cores, inputs)
        term_minutes = 60 * sum(TERM_STUDENTS / row.per_hour[lab_id] for lab_id in lab_ids)
        rows.append([cores, row.workers, format_bytes(row.memory_bytes), row.threads_per_sandbox]
                    + [f"{row.per_hour[lab_id]:,.0f}" + ("" if row.bound_by[lab_id] == "sandboxes"
                                                         else f" ({row.bound_by[lab_id]})") for lab_id in lab_ids]
                    + [f"{term_minutes:.0f}", row.breaks_first])
    header = (["cores", "workers (sandboxes)", "memory needed", "threads per sandbox (est.)"]
              + [f"lab {short_lab(lab_id)} per hour" for lab_id in lab_ids]
              + [f"minutes for {TERM_STUDENTS} students × these {len(lab_ids)} labs", "what breaks first"])
    ratios_measured = any(runs["1 worker"].seconds and runs["2 workers"].seconds
                          for runs in results.throughput.values())
    assumptions = [
        "",
        "From the measurements above: per lab, the warm sandbox job's seconds (on a worker) and the preparing and "
        "judging seconds (in the `grade` process, one submission at a time: with Dask the client does them, one after "
        f"another); the parallel efficiency {inputs.efficiency:.2f} = (2 workers / 1 worker) / 2"
        + (" of the longest batch above (the least diluted by start-up)" if ratios_measured
           else " (not measured in this run: assumed 1)")
        + f"; the Dask overhead per task {inputs.scheduler_overhead:.3f} s = (local cluster − 2 threads − what the "
          "cluster costs once per batch) / submissions, never below 0; memory per worker "
          f"{format_bytes(inputs.memory_per_worker)} = the largest peak RSS of a warm sandbox and its child above, "
          f"plus {format_bytes(inputs.client_memory)} for the `grade` process; "
          f"{inputs.measured_threads} threads per sandbox measured on {inputs.measured_cores} cores.",
        "Assumed: one sandbox per core and the 2-core efficiency at every size; submissions per hour = the smallest of "
        "cores × efficiency × 3600 / (sandbox job + Dask overhead), 3600 / (preparing + judging) for the client "
        "(bound: client), and 3600 / 1 ms for the scheduler (bound: scheduler; https://distributed.dask.org: \"each "
        "task suffers about 1ms of overhead\"); "
        + ("TensorFlow's thread pools are pinned in the sandbox (TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS), so "
           "a sandbox's threads stay as measured; " if inputs.pools_pinned
           else "TensorFlow's two thread pools each grow by one thread per core; ")
        + f"{format_bytes(MEMORY_PER_CORE_BYTES)} of memory per core on the machines; the gradebook commit (an SQLite "
        "transaction and fsyncs, in the client) is not counted.",
    ]
    return (["### Extrapolation", ""]
            + _caption("an estimate, not a measurement: from the costs measured above, see the assumptions below",
                       ["workers"])
            + markdown_table(header, rows) + assumptions)


def _verdict(text, met):
    """'text — met', 'text — NOT met', or 'not measured in this run' when text is None."""
    if text is None:
        return "not measured in this run"
    return f"{text} — {'met' if met else 'NOT met'}"


def _fixed_verdict(results):
    if not results.labs:
        return _verdict(None, False)
    worst = max(results.labs.values(), key=lambda measured: measured.warm_median["fixed"])
    fixed = worst.warm_median["fixed"]
    return _verdict(f"at most {fixed:.2f} s (lab {short_lab(worst.lab_id)})", fixed <= 0.5)


def _vanilla_verdict(results):
    two_workers = results.throughput.get(BASELINE_LAB, {}).get("2 workers")
    if two_workers is None or two_workers.seconds is None or not results.nbgrader_seconds:
        return _verdict(None, False)
    speedup = ratio(two_workers.per_minute, per_minute(results.count, results.nbgrader_seconds))
    return _verdict(f"{speedup:.1f}x", speedup >= 10)


def _previous_verdict(results):
    measured = results.labs.get("05_optimizers")
    if measured is None:
        return _verdict(None, False)
    speedup = PREVIOUS_SECONDS["05_optimizers"] / measured.sandbox_seconds
    return _verdict(f"{speedup:.2f}x (warm sandbox job {measured.sandbox_seconds:.2f} s)", speedup >= 1.5)


def _workers_verdict(results):
    speedups = {lab_id: ratio(runs["2 workers"].per_minute, runs["1 worker"].per_minute)
                for lab_id, runs in sorted(results.throughput.items())}
    speedups = {lab_id: value for lab_id, value in speedups.items() if value is not None}
    if not speedups:
        return _verdict(None, False)
    noted = {lab_id for lab_id, runs in results.throughput.items() if any(run.note for run in runs.values())}
    text = ", ".join(f"lab {short_lab(lab_id)} {value:.2f}x" + (" (a run has a note above)" if lab_id in noted else "")
                     for lab_id, value in speedups.items())
    return _verdict(text, all(value >= 1.8 for value in speedups.values()))


def _startup_verdict(results):
    warm = [single for single in results.single_grades if single.label.startswith("warm")]
    if not warm:
        return _verdict(None, False)
    return _verdict(f"{warm[0].rest:.2f} s (one lab-01 submission, warm cache)", warm[0].rest <= 2)


def _regrade_verdict(results):
    if results.regrade_seconds is None:
        return _verdict(None, False)
    return _verdict(f"{results.regrade_seconds:.2f} s", results.regrade_seconds <= 5)


VERDICTS = {"fixed": _fixed_verdict, "vanilla": _vanilla_verdict, "previous": _previous_verdict,
            "workers": _workers_verdict, "startup": _startup_verdict, "regrade": _regrade_verdict}


def target_verdicts(results):
    """One line per target: what this run measured against it, and whether that meets it."""
    return (["### Against the targets", "", f"{machine_line()}; this run, a class of {results.count}:", ""]
            + [f"- {TARGETS[name]}: {verdict(results)}" for name, verdict in VERDICTS.items()])


def _duration_note(results):
    """', which took N min (part: s, ...)': how long the run itself took."""
    if not results.part_seconds:
        return ""
    parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results.part_seconds.items())
    return f", which took {sum(results.part_seconds.values()) / 60:.1f} min ({parts})"


def report_lines(results):
    """The section for RESULTS.md (without the markers)."""
    lines = ["## Scale (issue 10)", "",
             f"`python -m benchmarks.run --section scale` (fast mode): correct submissions (the release with the "
             f"solution's answers), a class of {results.count} (s01…) per lab; every table below comes from one run"
             + _duration_note(results) + ".", ""]
    for part in (lab_lines, throughput_lines, fixed_lines, extrapolation_lines, target_verdicts):
        section = part(results)
        if section:
            lines += section + [""]
    return lines[:-1]


# ---------------------------------------------------------------- recorder entry point

def record_cli(timings_path, arguments):
    """Run `python -m autograder ARGUMENTS` in this process and write every sandbox job's timings to timings_path.

    Only autograder.sandbox (light) is imported before autograder/__main__.py runs, so the call starts as it
    does from the shell. Returns the exit status.
    """
    records = []
    status = 0
    sys.argv = ["python -m autograder", *arguments]
    try:
        with recording_jobs(records):
            runpy.run_module("autograder", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        jobs = [{"kind": "submission" if job.get("cells") else "references", "seconds": result.seconds,
                 "timings": result.timings, "infrastructure_error": result.infrastructure_error}
                for job, result in records]
        pathlib.Path(timings_path).write_text(json.dumps({"jobs": jobs, "exit_status": status}))
    return status


def main(argv=None):
    """`python -m benchmarks.scale record TIMINGS.json -- ARGUMENTS` (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[0] != "record" or argv[2] != "--":
        raise SystemExit("usage: python -m benchmarks.scale record TIMINGS.json -- AUTOGRADER_ARGUMENTS")
    return record_cli(argv[1], argv[3:])


if __name__ == "__main__":
    raise SystemExit(main())

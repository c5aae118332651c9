"""Where sandbox jobs run: a pool of threads on this machine, or the workers of a Dask cluster.

Both engines take submissions one by one and hand back each result as soon as it is in, so
that the batch commits it at once (see ``batch``). With Dask, the programs are built and every
verdict is made here, in the trusted client: only the sandbox job (a plain dict of cells and
probe requests), the lab's limits, the isolation and the grader version (which the worker
checks against its own) travel to a worker, and only the job's result (probe outputs, cell
statuses, incidents) comes back. Each task's key is derived from the submission's
fingerprint, so the scheduler computes it once while a client holds it, and runs it again
elsewhere when its worker is lost. Anything that goes wrong on a worker (no usable
bubblewrap there, another grader version, a worker that keeps dying) makes the submission
not graded, with the reason, and never a grade.

``distributed`` is imported only when a Dask engine is opened: the command line starts fast.
"""

import concurrent.futures
import hashlib
import re
import sys
import uuid

from autograder import fingerprint, grading, sandbox

CONNECT_SECONDS = 10  # how long to wait for a scheduler given with --scheduler
CLOSE_SECONDS = 10  # how long closing the client (and a cluster this engine started) may take
TASK_RETRIES = 2  # extra attempts of a task that raised on a worker (a lost worker is retried by the scheduler)
SCHEDULER_ADDRESS = re.compile(r"(tcp|tls|ws|wss)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}")
LOCAL_CLUSTER = re.compile(r"local:([0-9]{1,4})")


class ClusterUnavailableError(ValueError):
    """The Dask cluster asked for cannot be used; a ValueError, so the command line refuses (exit 2)."""


class GraderMismatchError(RuntimeError):
    """A worker runs other autograder or labkit code than the client: its results would not match the key."""


def check_scheduler_address(address):
    """The address of a Dask scheduler (tcp://HOST:PORT and the like); ValueError with an example if malformed."""
    if not isinstance(address, str) or not SCHEDULER_ADDRESS.fullmatch(address):
        raise ValueError(f"--scheduler expects the address of a Dask scheduler such as tcp://10.0.0.5:8786 "
                         f"(tcp://, tls://, ws:// or wss://, a host and a port), got {address!r}")
    return address


def parse_local_cluster(value):
    """The number of worker processes in 'local:N'; ValueError with an example if malformed."""
    match = LOCAL_CLUSTER.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"--cluster expects local:N with N worker processes, at least 1 (for example local:4), "
                         f"got {value!r}")
    return int(match.group(1))


def open_engine(workers=1, scheduler=None, cluster=None):
    """The engine the options ask for: the local thread pool (default), a Dask scheduler, or a local cluster."""
    if scheduler is not None and cluster is not None:
        raise ValueError("give either --scheduler (an existing Dask cluster) or --cluster local:N, not both")
    if scheduler is not None:
        return DaskEngine.connect(check_scheduler_address(scheduler))
    if cluster is not None:
        return DaskEngine.start_local(parse_local_cluster(cluster))
    return LocalEngine(workers)


class _Engine:
    """What both engines share: closing when a `with` block ends."""

    def __enter__(self):
        return self

    def __exit__(self, *exception_info):
        self.close()
        return False

    def close(self):
        raise NotImplementedError


class LocalEngine(_Engine):
    """Sandbox jobs on this machine: a pool of threads, each preparing, running and judging one submission."""

    def __init__(self, workers=1):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.description = f"{workers} local thread{'s' if workers > 1 else ''}"
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        self.futures = {}

    def submit(self, item, lab, references, isolation, fingerprint_value=""):
        """Queue one submission (item: student_id, lab_id, path); its result comes out of completed()."""
        future = self.pool.submit(grading.grade_notebook, lab, item.path, item.student_id, references, isolation)
        self.futures[future] = item

    def completed(self):
        """(item, SubmissionResult or the exception that stopped it), each as soon as it is done."""
        for future in concurrent.futures.as_completed(list(self.futures)):
            item = self.futures.pop(future)
            try:
                outcome = future.result()
            except Exception as error:  # a bug on the trusted side: the batch records it as not graded
                outcome = error
            yield item, outcome

    def stop(self):
        """Start nothing new (after an interruption, running sandboxes are killed by the command line)."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self):
        self.stop()


def task_key(item, fingerprint_value, isolation):
    """The Dask key of one submission's job: the same submission, lab, grader and isolation give the same key.

    Without a fingerprint (the lab's source could not be read) the key is unique, so nothing is shared.
    """
    if fingerprint_value:
        digest = hashlib.sha256(f"{fingerprint_value}:{isolation}".encode()).hexdigest()[:32]
    else:
        digest = uuid.uuid4().hex
    return f"sandbox-job-{item.lab_id}-{item.student_id}-{digest}"


def run_on_worker(job, limits, isolation, grader_version=""):
    """Run one sandbox job on a Dask worker, after checking that this worker can grade at all.

    The worker checks its own sandbox (resolve_isolation fails closed where bubblewrap cannot run)
    and that it runs the client's grader (the fingerprint, hence the key, names the client's);
    either failure raises, and the client records the submission as not graded with the reason.
    """
    resolved = sandbox.resolve_isolation(isolation, allow_unsandboxed=isolation == "none")
    if grader_version:
        local_version = fingerprint.grader_version()  # read once per worker process, at its first job
        if local_version != grader_version:
            raise GraderMismatchError(f"the worker runs another version of the grader ({local_version[:12]}, "
                                      f"the client {grader_version[:12]}); install the same autograder and labkit "
                                      "on every worker")
    return sandbox.run_job(job, limits, resolved)


def _failed_job(isolation, error):
    """A job result that says the cluster could not run the job: the submission is not graded."""
    return sandbox.JobResult(isolation=isolation, infrastructure_error=(
        f"the sandbox job failed on the Dask cluster ({type(error).__name__}: {error})"))


class DaskEngine(_Engine):
    """Sandbox jobs on the workers of a Dask cluster; programs are built and verdicts made here, in the client."""

    def __init__(self, client, cluster=None, description="Dask"):
        self.client = client
        self.cluster = cluster  # a LocalCluster this engine started, closed with it
        self.description = description
        self.grader_version = fingerprint.grader_version()
        self.ready = []  # (item, outcome) known without a job: unreadable notebooks, preparation failures
        self.futures = {}  # Dask future -> (item, lab, prepared, references, isolation)

    @classmethod
    def connect(cls, address, timeout=None):
        """An engine on the running scheduler at address; ClusterUnavailableError when it does not answer in time."""
        import distributed

        timeout = CONNECT_SECONDS if timeout is None else timeout
        try:
            client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterUnavailableError(
                f"the Dask scheduler at {address} did not answer within {timeout:g} s ({error}); check the address "
                "and that `dask scheduler` is running and reachable from here. Nothing was graded.") from error
        if not client.scheduler_info().get("workers"):
            print(f"warning: the Dask scheduler at {address} has no workers yet; grading waits until some join",
                  file=sys.stderr)
        return cls(client, description=f"Dask scheduler {address}")

    @classmethod
    def start_local(cls, worker_count):
        """An engine on a new cluster of worker processes on this machine, listening on 127.0.0.1 only."""
        import distributed

        try:
            cluster = distributed.LocalCluster(n_workers=worker_count, threads_per_worker=1, processes=True,
                                               host="127.0.0.1", dashboard_address=None)
        except Exception as error:
            raise ClusterUnavailableError(f"a local Dask cluster of {worker_count} workers could not start "
                                          f"({type(error).__name__}: {error})") from error
        client = distributed.Client(cluster, set_as_default=False)
        return cls(client, cluster, description=f"local Dask cluster of {worker_count} worker processes")

    def submit(self, item, lab, references, isolation, fingerprint_value=""):
        """Prepare one submission here and send its job to the cluster (nothing when there is nothing to run)."""
        try:
            prepared = grading.prepare_submission(lab, item.path, item.student_id)
        except Exception as error:  # a bug on the trusted side: the batch records it as not graded
            self.ready.append((item, error))
            return
        if prepared.result is not None:
            self.ready.append((item, prepared.result))
            return
        future = self.client.submit(run_on_worker, prepared.job, lab.limits, isolation, self.grader_version,
                                    key=task_key(item, fingerprint_value, isolation), retries=TASK_RETRIES)
        self.futures[future] = (item, lab, prepared, references, isolation)

    def completed(self):
        """(item, SubmissionResult or the exception that stopped it), each as soon as its job is back."""
        import distributed

        while self.ready:
            yield self.ready.pop(0)
        for future in distributed.as_completed(list(self.futures), loop=self.client.loop):
            item, lab, prepared, references, isolation = self.futures.pop(future)
            try:
                job_result = future.result()
            except Exception as error:  # raised on the worker, or the worker kept dying (KilledWorker)
                job_result = _failed_job(isolation, error)
            future.release()
            try:
                outcome = grading.judge_submission(lab, prepared, job_result, references)
            except Exception as error:  # a bug on the trusted side: the batch records it as not graded
                outcome = error
            yield item, outcome

    def stop(self):
        """Cancel the jobs not done yet (a job already running on a worker finishes, and its result is dropped)."""
        if self.futures:
            self.client.cancel(list(self.futures))
            self.futures.clear()

    def close(self):
        """Stop, disconnect and shut down a cluster this engine started; a failure here is only a warning."""
        try:
            self.stop()
            self.client.close(timeout=CLOSE_SECONDS)
            if self.cluster is not None:
                self.cluster.close(timeout=CLOSE_SECONDS)
        except Exception as error:  # every result is committed already; this only tidies up
            print(f"warning: the Dask cluster did not close cleanly ({type(error).__name__}: {error})",
                  file=sys.stderr)

"""A seccomp filter that forbids creating processes, and reaching other ones, once student code may run.

Why the kernel and not Python: a fresh interpreter has none of the sandbox's disabled
built-ins or hooks, so it is the perfect oracle, and Python offers many routes to one
(subprocess, os.exec*, posix_spawn, ctypes calls into libc, a C extension). Denying the
``execve``/``execveat`` system calls, and every ``clone`` that does not create a thread,
closes all of them at once: a forked child would only be a copy of this restricted process
anyway, and threads (which TensorFlow needs) stay possible. ``clone3`` answers ENOSYS so
that the C library falls back to ``clone``, whose flags the filter can read.

The filter is assembled here as classic BPF and installed with prctl through ctypes,
before student code runs (the audit hook then refuses ctypes to student code).
"""

import ctypes
import errno
import platform
import struct

# Besides new processes, denied: what would let a child of the fork runner reach another process
# (ptrace, reading or writing another's memory, taking its descriptors) or leave a kernel object
# behind for the next child (System V IPC, POSIX message queues, keyrings, new namespaces).
_X86_64_DENIED = {
    "execve": 59, "execveat": 322, "fork": 57, "vfork": 58,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
    "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65, "semctl": 66,
    "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245, "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "setns": 308,
}
_AARCH64_DENIED = {
    "execve": 221, "execveat": 281,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
    "shmget": 194, "shmctl": 195, "shmat": 196, "shmdt": 197, "semget": 190, "semctl": 191, "semtimedop": 192,
    "semop": 193, "msgget": 186, "msgctl": 187, "msgrcv": 188, "msgsnd": 189,
    "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183, "mq_notify": 184,
    "mq_getsetattr": 185, "add_key": 217, "request_key": 218, "keyctl": 219, "unshare": 97, "setns": 268,
}
# Architectures: (AUDIT_ARCH value, syscall numbers to deny, clone, clone3, x32 bit or None).
_ARCHITECTURES = {
    "x86_64": (0xC000003E, _X86_64_DENIED, 56, 435, 0x40000000),
    "aarch64": (0xC00000B7, _AARCH64_DENIED, 220, 435, None),
}

_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_GREATER_EQUAL = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JUMP_BITS_SET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_DENY = 0x00050000 | errno.EPERM  # SECCOMP_RET_ERRNO | EPERM
_NOT_IMPLEMENTED = 0x00050000 | errno.ENOSYS
_CLONE_THREAD = 0x00010000
_OFFSET_NUMBER, _OFFSET_ARCH, _OFFSET_FIRST_ARGUMENT = 0, 4, 16


class ProcessFilterUnavailable(RuntimeError):
    """The filter cannot be installed here (unknown architecture, or the kernel refused)."""


def _instruction(code, jump_true, jump_false, value):
    return struct.pack("HBBI", code, jump_true, jump_false, value)


def filter_program(machine=None):
    """The BPF instructions (bytes) of the filter for one architecture."""
    machine = machine or platform.machine()
    if machine not in _ARCHITECTURES:
        raise ProcessFilterUnavailable(f"no process filter for the {machine!r} architecture")
    arch, denied, clone, clone3, x32_bit = _ARCHITECTURES[machine]
    # Tests on the syscall number: (jump kind, value, where to go when it matches).
    tests = [(_JUMP_GREATER_EQUAL, x32_bit, "deny")] if x32_bit is not None else []
    tests += [(_JUMP_EQUAL, number, "deny") for number in sorted(denied.values())]
    tests += [(_JUMP_EQUAL, clone3, "enosys"), (_JUMP_EQUAL, clone, "clone")]
    first_test = 4  # after: load arch, check arch, deny other arch, load number
    blocks_start = first_test + len(tests)
    block = {"allow": blocks_start, "deny": blocks_start + 1, "enosys": blocks_start + 2, "clone": blocks_start + 3}
    # A syscall through another architecture's entry (e.g. int 0x80 on x86_64) is denied outright.
    instructions = [
        _instruction(_LOAD_WORD, 0, 0, _OFFSET_ARCH),
        _instruction(_JUMP_EQUAL, 1, 0, arch),
        _instruction(_RETURN, 0, 0, _DENY),
        _instruction(_LOAD_WORD, 0, 0, _OFFSET_NUMBER),
    ]
    for position, (kind, value, target) in enumerate(tests, start=first_test):
        instructions.append(_instruction(kind, block[target] - position - 1, 0, value))
    instructions += [
        _instruction(_RETURN, 0, 0, _ALLOW),
        _instruction(_RETURN, 0, 0, _DENY),
        _instruction(_RETURN, 0, 0, _NOT_IMPLEMENTED),
        # clone: a new thread (CLONE_THREAD in the flags, the first argument) is allowed, a process is not.
        _instruction(_LOAD_WORD, 0, 0, _OFFSET_FIRST_ARGUMENT),
        _instruction(_JUMP_BITS_SET, 0, 1, _CLONE_THREAD),
        _instruction(_RETURN, 0, 0, _ALLOW),
        _instruction(_RETURN, 0, 0, _DENY),
    ]
    return b"".join(instructions)


def install():
    """Install the filter on this process and all threads it creates later; irreversible."""
    program = filter_program()
    count = len(program) // 8
    buffer = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(count, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise ProcessFilterUnavailable(f"PR_SET_NO_NEW_PRIVS failed: {errno.errorcode.get(ctypes.get_errno())}")
    # SECCOMP_SET_MODE_FILTER with SECCOMP_FILTER_FLAG_TSYNC (1): every existing thread too.
    libc.syscall.restype = ctypes.c_long
    seccomp_number = {"x86_64": 317, "aarch64": 277}[platform.machine()]
    if libc.syscall(seccomp_number, 1, 1, ctypes.byref(fprog)) != 0:
        raise ProcessFilterUnavailable(f"seccomp refused the filter: {errno.errorcode.get(ctypes.get_errno())}")

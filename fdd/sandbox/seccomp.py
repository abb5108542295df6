"""The seccomp filter (x86-64 Linux): a syscall deny-list a worker installs on itself after start-up.

Defence in depth under the static check and the restricted builtins: even code that escaped both
cannot exec, fork/clone, open sockets, ptrace, signal other processes, change the file system or
open a file for writing; those calls fail with EPERM (other ABIs kill the process). Elsewhere
`_install_seccomp` returns False and the other layers stand alone (the worker reports which).
"""

from __future__ import annotations

import os
import sys

_SYSCALLS_X86_64 = {  # name: number
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53,
    "accept4": 288, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "kill": 62, "ptrace": 101,
    "execveat": 322, "clone3": 435, "tkill": 200, "tgkill": 234, "rename": 82, "mkdir": 83,
    "rmdir": 84, "creat": 85, "link": 86, "unlink": 87, "symlink": 88, "chmod": 90, "fchmod": 91,
    "chown": 92, "fchown": 93, "truncate": 76, "renameat": 264, "mkdirat": 258,
    "unlinkat": 263, "linkat": 265, "symlinkat": 266, "fchmodat": 268, "fchownat": 260,
    "renameat2": 316, "mknod": 133, "mknodat": 259, "mount": 165, "umount2": 166,
    "chroot": 161, "pivot_root": 155, "unshare": 272, "setns": 308, "process_vm_writev": 311,
    "process_vm_readv": 310, "pidfd_open": 434, "pidfd_send_signal": 424, "io_uring_setup": 425,
    "bpf": 321, "keyctl": 250, "add_key": 248, "request_key": 249, "memfd_create": 319,
    "init_module": 175, "finit_module": 313, "reboot": 169, "sethostname": 170, "setsid": 112,
    "setpgid": 109, "sendto": 44, "sendmsg": 46, "recvfrom": 45, "recvmsg": 47, "openat2": 437,
    "open_by_handle_at": 304, "userfaultfd": 323, "perf_event_open": 298,
}
_OPEN_SYSCALLS_X86_64 = {"open": (2, 1), "openat": (257, 2)}  # name: (number, index of flags arg)


def _install_seccomp() -> bool:
    """Deny dangerous syscalls with EPERM; writable opens too. Returns whether it was installed."""
    import ctypes
    import platform
    import struct as st

    if sys.platform != "linux" or platform.machine() != "x86_64":
        return False
    ld, jeq, ret, and_ = 0x20, 0x15, 0x06, 0x54  # BPF_LD|W|ABS, JMP|JEQ|K, RET|K, ALU|AND|K
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def op(code: int, jt: int, jf: int, k: int) -> bytes:
        return st.pack("HBBI", code, jt, jf, k)

    prog = [
        op(ld, 0, 0, 4),  # seccomp_data.arch
        op(jeq, 1, 0, 0xC000003E),  # AUDIT_ARCH_X86_64
        op(ret, 0, 0, 0x80000000),  # other ABI (e.g. int 0x80): kill the process
        op(ld, 0, 0, 0),  # seccomp_data.nr
        op(0x35, 0, 1, 0x40000000),  # JGE x32 ABI bit -> kill
        op(ret, 0, 0, 0x80000000),
    ]
    for number in _SYSCALLS_X86_64.values():
        prog += [op(jeq, 0, 1, number), op(ret, 0, 0, deny)]
    for number, arg in _OPEN_SYSCALLS_X86_64.values():
        prog += [
            op(jeq, 0, 5, number),
            op(ld, 0, 0, 16 + 8 * arg),  # low 32 bits of args[arg]
            op(and_, 0, 0, write_flags),
            op(jeq, 0, 1, 0),
            op(ret, 0, 0, allow),
            op(ret, 0, 0, deny),
        ]
    prog.append(op(ret, 0, 0, allow))
    code = b"".join(prog)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = SockFprog(len(prog), ctypes.cast(buf, ctypes.c_char_p))
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) == 0


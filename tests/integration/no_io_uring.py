"""Runs a command where io_uring is forbidden, as under Docker's default
seccomp profile: io_uring_setup fails with EPERM, every other system call
is allowed. usage: no_io_uring.py PROGRAM [ARG...] (x86-64 Linux only)."""

import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xC000003E
NR_IO_URING_SETUP = 425
EPERM = 1

# classic BPF: struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}
LD_W_ABS = 0x20
JEQ_K = 0x15
RET_K = 0x06


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: no_io_uring.py PROGRAM [ARG...]\n")
        return 2
    prog = b"".join([
        insn(LD_W_ABS, 0, 0, 4),                      # seccomp_data.arch
        insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),         # another ABI: not ours to judge
        insn(LD_W_ABS, 0, 0, 0),                      # seccomp_data.nr
        insn(JEQ_K, 0, 1, NR_IO_URING_SETUP),
        insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ])
    n = len(prog) // 8
    buf = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(n, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        sys.stderr.write("no_io_uring.py: cannot install the filter: %s\n" % os.strerror(ctypes.get_errno()))
        return 2
    os.execv(sys.argv[1], sys.argv[1:])
    return 2


if __name__ == "__main__":
    sys.exit(main())

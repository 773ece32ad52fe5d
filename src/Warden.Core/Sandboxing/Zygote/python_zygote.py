def _warden_zygote():
    # The python zygote (see PythonZygote.cs). Runs as host root, in a mount namespace of its own, before the warm stub's
    # own set-up; the stub then calls the function returned here where it would read its go-message. That call serves
    # fork requests forever in the zygote and returns only in a fresh sandbox, as the sandbox's unprivileged program.
    # Everything imported here leaves sys.modules again, so the program sees the same modules as in a cold run.
    import sys, os
    before = set(sys.modules)
    import ctypes, _socket, fcntl, select, resource, _signal, struct
    for name in set(sys.modules) - before:
        del sys.modules[name]

    libc = ctypes.CDLL(None, use_errno=True)
    numbers = {'x86_64': (155, 126, 442), 'aarch64': (41, 91, 442)}[os.uname().machine]
    SYS_pivot_root, SYS_capset, SYS_mount_setattr = numbers
    SYS_move_mount = 429
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = (
        0x20000, 0x2000000, 0x4000000, 0x8000000, 0x20000000, 0x40000000)
    MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
    ATTR_RDONLY, ATTR_NOSUID, ATTR_NODEV, ATTR_NOEXEC = 1, 2, 4, 8
    AT_RECURSIVE, MNT_DETACH = 0x8000, 2
    PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = (
        1, 4, 24, 22, 38, 36)
    RLIMITS = {'cpu': resource.RLIMIT_CPU, 'fsize': resource.RLIMIT_FSIZE, 'nofile': resource.RLIMIT_NOFILE,
               'core': resource.RLIMIT_CORE, 'nproc': resource.RLIMIT_NPROC, 'as': resource.RLIMIT_AS,
               'stack': resource.RLIMIT_STACK, 'memlock': resource.RLIMIT_MEMLOCK}

    class MountAttr(ctypes.Structure):
        _fields_ = [('set', ctypes.c_uint64), ('clr', ctypes.c_uint64), ('propagation', ctypes.c_uint64),
                    ('userns', ctypes.c_uint64)]

    class Filter(ctypes.Structure):
        _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]

    def check(result, what):
        if result < 0:
            error = ctypes.get_errno()
            raise OSError(error, '%s: %s' % (what, os.strerror(error)))
        return result

    def b(path):
        return os.fsencode(path)

    def mount(source, target, fstype, flags, data=None):
        check(libc.mount(None if source is None else b(source), b(target), None if fstype is None else b(fstype),
                         ctypes.c_ulong(flags), None if data is None else b(data)), 'mount ' + target)

    def set_attributes(path, attributes, recursive):
        attr = MountAttr(attributes, 0, 0, 0)
        check(libc.syscall(SYS_mount_setattr, -100, b(path), AT_RECURSIVE if recursive else 0, ctypes.byref(attr),
                           ctypes.sizeof(attr)), 'mount_setattr ' + path)

    def prctl(option, value):
        check(libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)),
              'prctl %d' % option)

    def bind(source, target, attributes):
        mount(source, target, None, MS_BIND | MS_REC)
        set_attributes(target, attributes, True)

    def mount_point(path, like):
        if os.path.isdir(like):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o444))

    # Configuration: one "key<TAB>value[<TAB>value]" per line, on stdin (not argv: every sandbox's /proc/self/cmdline
    # is the zygote's, and host paths have no business there).
    text = b''
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        text += chunk
    config = {}
    for line in os.fsdecode(text).split('\n'):
        if line:
            key, _, value = line.partition('\t')
            config.setdefault(key, []).append(value)
    root = config['root'][0]
    parent = int(config['parent'][0])

    prctl(PR_SET_PDEATHSIG, _signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    # Orphaned sandbox inits are re-parented here and reaped by the kernel (SIGCHLD ignored).
    prctl(PR_SET_CHILD_SUBREAPER, 1)

    # The template every sandbox's root is a copy of: what bwrap builds per sandbox, built once. Read-only throughout;
    # the per-sandbox parts (/dev, /tmp, /sandbox, /proc) are mounted over its empty mount points in each sandbox.
    check(libc.unshare(CLONE_NEWNS), 'unshare')
    mount(None, '/', None, MS_REC | MS_PRIVATE)
    os.makedirs(root, exist_ok=True)
    mount('tmpfs', root, 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=0755')
    readonly = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV
    for directory in config.get('ro', []):
        os.makedirs(root + directory, exist_ok=True)
        bind(directory, root + directory, readonly)
    for entry in config.get('link', []):
        target, link = entry.split('\t')
        os.symlink(target, root + link)
    os.makedirs(root + '/etc')
    bind(config['etc'][0], root + '/etc', readonly)
    for path in config.get('try', []):
        if os.path.exists(path):
            mount_point(root + path, path)
            bind(path, root + path, readonly)
    for directory in ('/proc', '/dev', '/tmp', '/sandbox'):
        os.makedirs(root + directory, exist_ok=True)
    set_attributes(root, readonly, False)

    # The seccomp programs are read now: their files may be on a mount detached below.
    seccomp_programs = {}
    for path in config.get('seccomp', []):
        with open(path, 'rb') as f:
            seccomp_programs[path] = f.read()
    cap_last = int(open('/proc/sys/kernel/cap_last_cap').read())

    def unescape(field):
        # mountinfo escapes space, tab, newline and backslash as \ooo.
        out, i = bytearray(), 0
        while i < len(field):
            digits = field[i + 1:i + 4]
            if field[i] == 0x5c and len(digits) == 3 and digits.isdigit():
                out.append(int(digits, 8))
                i += 4
            else:
                out.append(field[i])
                i += 1
        return os.fsdecode(bytes(out))

    def detach_unneeded():
        # This namespace is a copy of the host's as of now, and would keep every mount in it alive for good: other
        # slots' workspaces with whatever they hold, other instances' state. The zygote needs the template, /dev (device
        # nodes to bind), /proc and /sys (cgroup files); the rest goes.
        keep = ('/proc', '/sys', '/dev', root)
        points = []
        with open('/proc/self/mountinfo', 'rb') as mounts:
            for line in mounts:
                point = unescape(line.split()[4])
                if point != '/' and not any(point == k or point.startswith(k + '/') for k in keep):
                    points.append(point)
        for point in sorted(points, key=len, reverse=True):
            libc.umount2(b(point), MNT_DETACH)
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    path = config['socket'][0]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    old_umask = os.umask(0o177)
    listener.bind(path)
    os.umask(old_umask)
    listener.listen(64)
    detach_unneeded()
    _signal.signal(_signal.SIGCHLD, _signal.SIG_IGN)
    os.write(1, b'ready\n')

    def parse(data):
        request = {}
        for field in data.split(b'\0')[:-1]:
            key, _, value = os.fsdecode(field).partition('=')
            request.setdefault(key, []).append(value)
        return request

    def drop_privileges(uid):
        # The bounding set first (needs CAP_SETPCAP), then ids: leaving uid 0 clears the permitted, effective and
        # ambient sets; the inheritable one is cleared explicitly.
        for cap in range(cap_last + 1):
            prctl(PR_CAPBSET_DROP, cap)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)()
        check(libc.syscall(SYS_capset, header, data), 'capset')
        prctl(PR_SET_NO_NEW_PRIVS, 1)

    def loopback_up():
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:
            flags = struct.unpack_from('H', fcntl.ioctl(s.fileno(), 0x8913, struct.pack('16sH14x', b'lo', 0)), 16)[0]
            fcntl.ioctl(s.fileno(), 0x8914, struct.pack('16sH14x', b'lo', flags | 1))
        finally:
            s.close()

    def build_root(request, uid, workspace, report):
        # As bwrap --dev /dev, [--bind REPORT /dev/warden-exit,] --tmpfs /tmp, --bind WORKSPACE /sandbox, then pivot_root
        # into the template.
        mount('tmpfs', root + '/dev', 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=0755,uid=%d,gid=%d' % (uid, uid))
        for device in ('null', 'zero', 'full', 'random', 'urandom', 'tty'):
            target = root + '/dev/' + device
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o444))
            mount('/dev/' + device, target, None, MS_BIND)
            set_attributes(target, ATTR_NOSUID, False)
        for directory in ('/dev/pts', '/dev/shm'):
            os.mkdir(root + directory, 0o755)
            os.chown(root + directory, uid, uid)
        mount('devpts', root + '/dev/pts', 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=620')
        for link, target in (('fd', '/proc/self/fd'), ('stdin', '/proc/self/fd/0'), ('stdout', '/proc/self/fd/1'),
                             ('stderr', '/proc/self/fd/2'), ('core', '/proc/kcore'), ('ptmx', 'pts/ptmx')):
            os.symlink(target, root + '/dev/' + link)
        if report is not None:
            # The exit report FIFO (see ExitReport.cs), a detached bind mount like the workspace.
            target = root + '/dev/warden-exit'
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o444))
            check(libc.syscall(SYS_move_mount, report, b'', -100, b(target), 4), 'move_mount /dev/warden-exit')
            os.close(report)
            set_attributes(target, ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC, False)
        mount('tmpfs', root + '/tmp', 'tmpfs', MS_NOSUID | MS_NODEV,
              'size=%d,nr_inodes=%d,mode=0755,uid=%d,gid=%d' % (int(request['tmp'][0]), int(request['tmp_inodes'][0]), uid, uid))
        # The workspace comes as a detached mount (open_tree by the helper, in the host's mount namespace): a
        # workspace mounted after the zygote started is not in its namespace.
        check(libc.syscall(SYS_move_mount, workspace, b'', -100, b(root + '/sandbox'), 4), 'move_mount /sandbox')
        os.close(workspace)
        set_attributes(root + '/sandbox', ATTR_NOSUID | ATTR_NODEV, True)
        os.chdir(root)
        check(libc.syscall(SYS_pivot_root, b'.', b'.'), 'pivot_root')
        check(libc.umount2(b'.', MNT_DETACH), 'umount old root')
        os.chdir('/')

    def rehearse():
        # The first writes to the zygote's pages are copy-on-write faults, ~2 ms of them at a run's start (strace).
        # The steps every run takes (the stub's, a compile and exec, the final collection) take theirs here, while idle:
        # 0.2-0.7 ms lower p50 in three interleaved rounds. It leaves nothing a program could tell from a cold start.
        module = type(sys)('__main__')
        namespace = module.__dict__
        namespace['__builtins__'] = __builtins__
        os.path.dirname(os.path.realpath('/sandbox/main.py'))
        sys.modules['_frozen_importlib_external'].SourceFileLoader('__main__', '/sandbox/main.py')
        exec(compile(b'print(end="")', '/sandbox/main.py', 'exec', dont_inherit=True), namespace)
        import gc
        gc.collect()
        del sys.modules['gc']

    def sandbox_init(conn, status, program):
        # pid 1 of the sandbox, as bwrap's own init: reaps orphans, ends with the program (the kernel then kills what is
        # left in the namespace), and takes the sandbox down when the helper (Warden's end) goes.
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        _signal.signal(_signal.SIGCHLD, lambda *_: None)
        null = os.open('/dev/null', os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        ended = None
        while ended is None:
            while True:
                try:
                    pid, wait_status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    pid = 0
                if pid == 0:
                    break
                if pid == program:
                    ended = wait_status
            if ended is not None:
                break
            ready = select.select([conn, wake_r], [], [])[0]
            if conn in ready:
                os.kill(-1, _signal.SIGKILL)
                os._exit(128 + _signal.SIGKILL)
            if wake_r in ready:
                try:
                    os.read(wake_r, 256)
                except BlockingIOError:
                    pass
        code = os.waitstatus_to_exitcode(ended)
        code = 128 - code if code < 0 else code
        # Closed before the exit, not by it: the last process of the namespaces tears them down (unmounting, an RCU grace
        # period) before its descriptors are released, and Warden reads the status pipe to its end.
        try:
            os.write(status, b'{"exit-code": %d}\n' % code)
            os.close(status)
            os.write(conn, b'%d' % code)
        except OSError:
            pass
        os._exit(code)

    def sandbox(conn, fds, request):
        # In the child of the zygote, still host root: become the sandbox. Returns only in the program's process.
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        listener.detach()
        uid = int(request['uid'][0])
        if uid <= 0:
            raise ValueError('refusing to run a sandbox as host root')
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        status, workspace = os.dup(fds[3]), os.dup(fds[4])
        report = os.dup(fds[5]) if len(fds) > 5 else None
        for fd in fds:
            if fd > 2:
                os.close(fd)
        for fd in [int(name) for name in os.listdir('/proc/self/fd')]:
            if fd > 2 and fd not in (status, conn, workspace, report):
                try:
                    os.close(fd)
                except OSError:
                    pass
        for procs in request.get('cgroup', []):
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b'%d' % os.getpid())
            finally:
                os.close(fd)
        program = seccomp_programs[request['seccomp'][0]]
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
        network = request['network'][0] == '1'
        if not network:
            flags |= CLONE_NEWNET
        check(libc.unshare(flags), 'unshare')
        _socket.sethostname('sandbox')
        if not network:
            loopback_up()
        build_root(request, uid, workspace, report)
        if os.fork() != 0:
            os._exit(0)
        # pid 1 of the new pid namespace.
        mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC)
        pid = os.fork()
        if pid != 0:
            drop_privileges(uid)
            sandbox_init(conn, status, pid)
        # The program (pid 2). Everything from here on is what bwrap does between its fork and exec.
        os.setsid()
        for spec in request.get('rlimit', []):
            name, soft, hard = spec.split(':')
            _, max_hard = resource.getrlimit(RLIMITS[name])
            hard = max_hard if hard == 'inf' else int(hard)
            if max_hard != resource.RLIM_INFINITY:
                hard = min(hard, max_hard)
            soft = hard if soft == 'inf' else min(int(soft), hard)
            resource.setrlimit(RLIMITS[name], (soft, hard))
        drop_privileges(uid)
        # setresuid made the process undumpable (its /proc files root's): an exec'd program would be dumpable again.
        prctl(PR_SET_DUMPABLE, 1)
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = Filter(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        check(libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(2), ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0)),
              'seccomp')
        os.chdir('/sandbox')
        os.environ['PWD'] = '/sandbox'  # as bwrap's --chdir sets it
        rehearse()
        os.write(status, b'{"child-pid": %d}\n' % os.getpid())
        os.close(status)
        os.close(conn)

    def receive(conn):
        # One request per connection: its fields, the sandbox's stdin, stdout, stderr and status descriptors, its
        # workspace and optionally its exit report FIFO (detached mounts), from a root peer only (the socket is root's,
        # mode 0600; this is the second lock).
        sock = _socket.socket(fileno=conn)
        try:
            peer_uid = struct.unpack('iII', sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12))[1]
            message, ancillary, _, _ = sock.recvmsg(1 << 16, _socket.CMSG_SPACE(6 * 4))
        finally:
            sock.detach()
        fds = []
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds.extend(struct.unpack('%di' % (len(data) // 4), data[:len(data) - len(data) % 4]))
        if peer_uid == 0 and len(fds) in (5, 6) and message:
            return fds, parse(message)
        for fd in fds:
            os.close(fd)
        return None

    def serve():
        while True:
            try:
                conn, _ = listener._accept()
            except InterruptedError:
                continue
            child = False
            try:
                received = receive(conn)
                child = received is not None and os.fork() == 0
            except Exception as error:
                received = None
                os.write(2, b'warden-zygote: %s\n' % str(error).encode())
            if child:
                try:
                    sandbox(conn, *received)
                except BaseException as error:
                    try:
                        os.write(2, b'warden-zygote: %s\n' % str(error).encode())
                    finally:
                        os._exit(125)
                return
            for fd in received[0] if received else []:
                os.close(fd)
            os.close(conn)
    return serve


_warden_fork = _warden_zygote()

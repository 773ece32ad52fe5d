/*
 * warden-exec: the exec-only bridge between the Warden service and bubblewrap.
 *
 * Why it exists: the service must (1) put the sandbox in its cgroups *before* anything runs,
 * so nothing forked early escapes the limits; (2) apply rlimits; (3) drop from root to the
 * sandbox slot's unprivileged host uid, because bwrap started as root with --unshare-user
 * would be host root for file access; (4) hand bwrap its seccomp program on a numbered fd.
 * None of that can run between fork and exec in .NET, and each shell tool (prlimit, setpriv)
 * would cost an extra exec. This program does all four and then execs bwrap.
 *
 * It is started ahead of time ("parked"): joining a cgroup costs 7-15 ms on these kernels
 * (an RCU grace period), so the join happens while no request is waiting. It then blocks on
 * the control fd until the service sends the request, and only then execs.
 *
 * Usage: warden-exec --uid UID --gid GID [--cgroup PROCS_FILE]... [--parent PID]
 *   fd 0,1,2  the program's stdin/stdout/stderr (inherited by bwrap and the program)
 *   fd 3      control pipe: NUL-separated fields, read to EOF, then:
 *               rlimit=NAME:SOFT:HARD   (cpu, fsize, nofile, core, nproc, as, stack)
 *               seccomp=PATH            opened and placed on fd 3 for bwrap's --seccomp 3
 *               netns=PATH              join that network namespace (setns, while still root): the egress netns
 *                                       Warden made, whose only way out is Warden's proxy listener
 *               --                      then the argv to exec (argv[0] is an absolute path)
 *   fd 4      (optional) bwrap's --json-status-fd, passed through untouched
 * Exit codes: 125 = warden-exec itself failed (message on stderr, prefixed "warden-exec:"); otherwise the tool's own
 * exit code, or 128+N when it was killed by signal N.
 *
 * Once the request arrives it does not exec the tool directly: it becomes a child subreaper, forks the tool and reaps
 * every process of the sandbox that gets orphaned (bwrap's pid-namespace init outlives the outer bwrap by a moment).
 * Without this they would be re-parented to the host's pid 1 - and when Warden itself is pid 1 in a container, nobody
 * would ever reap them. It exits when nothing is left to reap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL_CODE 125
#define MAX_CONTROL (1 << 20)
#define MAX_FIELDS 4096

static void die(const char *what) {
    dprintf(2, "warden-exec: %s: %s\n", what, strerror(errno));
    _exit(FAIL_CODE);
}

static void die_msg(const char *what) {
    dprintf(2, "warden-exec: %s\n", what);
    _exit(FAIL_CODE);
}

static void join_cgroup(const char *procs_file) {
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    int fd = open(procs_file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die(procs_file);
    if (write(fd, pid, (size_t)len) != len) die(procs_file);
    close(fd);
}

static int rlimit_resource(const char *name) {
    static const struct { const char *name; int resource; } table[] = {
        {"cpu", RLIMIT_CPU}, {"fsize", RLIMIT_FSIZE}, {"nofile", RLIMIT_NOFILE}, {"core", RLIMIT_CORE},
        {"nproc", RLIMIT_NPROC}, {"as", RLIMIT_AS}, {"stack", RLIMIT_STACK}, {"memlock", RLIMIT_MEMLOCK},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0) return table[i].resource;
    return -1;
}

static void apply_rlimit(char *spec) {
    /* NAME:SOFT:HARD, values in the resource's unit or "inf" */
    char *name = strtok(spec, ":"), *soft = strtok(NULL, ":"), *hard = strtok(NULL, ":");
    if (!name || !soft || !hard) die_msg("malformed rlimit");
    int resource = rlimit_resource(name);
    if (resource < 0) die_msg("unknown rlimit");
    struct rlimit current, wanted;
    if (getrlimit(resource, &current) != 0) die("getrlimit");
    wanted.rlim_cur = strcmp(soft, "inf") == 0 ? RLIM_INFINITY : strtoull(soft, NULL, 10);
    wanted.rlim_max = strcmp(hard, "inf") == 0 ? RLIM_INFINITY : strtoull(hard, NULL, 10);
    /* Never raise: without CAP_SYS_RESOURCE that fails, and a lower host hard limit is stricter anyway. */
    if (wanted.rlim_max > current.rlim_max) wanted.rlim_max = current.rlim_max;
    if (wanted.rlim_cur > wanted.rlim_max) wanted.rlim_cur = wanted.rlim_max;
    if (setrlimit(resource, &wanted) != 0) die("setrlimit");
}

/* Join the egress network namespace Warden made before anything is exec'd: bwrap (without --unshare-net) and runsc
 * (--network host) then run in it, so it is the only network the sandbox has. It needs root (CAP_SYS_ADMIN over the
 * namespace's user namespace), so it happens before drop_to. Fail closed: a path that is not a network namespace, or a
 * setns the kernel refuses, ends the run (125) instead of running the sandbox in the host's network. */
static void join_netns(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open netns");
    struct stat before, after;
    if (fstat(fd, &before) != 0) die("fstat netns");
    if (setns(fd, CLONE_NEWNET) != 0) die("setns netns");
    close(fd);
    /* The namespace we are now in is the one the path named (same device and inode as the nsfs file). */
    if (stat("/proc/thread-self/ns/net", &after) != 0) die("stat own netns");
    if (after.st_ino != before.st_ino || after.st_dev != before.st_dev) die_msg("netns: joined a different namespace");
}

static void drop_to(uid_t uid, gid_t gid) {
    if (setgroups(0, NULL) != 0) die("setgroups");
    if (setresgid(gid, gid, gid) != 0) die("setresgid");
    if (setresuid(uid, uid, uid) != 0) die("setresuid");
}

int main(int argc, char **argv) {
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    pid_t parent = 0;

    /* If the service dies while we are parked, we die with it instead of lingering. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl(PDEATHSIG)");

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--uid") == 0 && i + 1 < argc) uid = (uid_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--gid") == 0 && i + 1 < argc) gid = (gid_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--parent") == 0 && i + 1 < argc) parent = (pid_t)strtol(argv[++i], NULL, 10);
        /* Join before anything else can fork: membership is inherited at fork time. */
        else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) join_cgroup(argv[++i]);
        else die_msg("usage: warden-exec --uid UID --gid GID [--cgroup PROCS_FILE]... [--parent PID]");
    }
    if (parent != 0 && getppid() != parent) die_msg("parent already gone");
    if (uid == 0 || gid == 0) die_msg("refusing to run a sandbox as host root");

    /* Park: read the request from the control pipe until the service closes it. */
    char *buf = malloc(MAX_CONTROL);
    if (!buf) die("malloc");
    size_t used = 0;
    for (;;) {
        ssize_t n = read(3, buf + used, MAX_CONTROL - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("read control");
        if (n == 0) break;
        used += (size_t)n;
        if (used >= MAX_CONTROL - 1) die_msg("control block too large");
    }
    close(3);
    if (used == 0) _exit(0); /* the service retired this parked slot */
    buf[used] = '\0';

    char *fields[MAX_FIELDS];
    int count = 0;
    for (size_t pos = 0; pos < used && count < MAX_FIELDS - 1;) {
        fields[count++] = buf + pos;
        pos += strlen(buf + pos) + 1;
    }
    int f = 0;
    for (; f < count && strcmp(fields[f], "--") != 0; f++) {
        if (strncmp(fields[f], "rlimit=", 7) == 0) apply_rlimit(fields[f] + 7);
        else if (strncmp(fields[f], "seccomp=", 8) == 0) {
            int fd = open(fields[f] + 8, O_RDONLY);
            if (fd < 0) die("open seccomp program");
            if (fd != 3) {
                if (dup2(fd, 3) < 0) die("dup2 seccomp");
                close(fd);
            }
        } else if (strncmp(fields[f], "netns=", 6) == 0) join_netns(fields[f] + 6);
        else die_msg("unknown control field");
    }
    if (f >= count - 1) die_msg("no command in control block");
    char **command = &fields[f + 1];
    command[count - f - 1] = NULL;

    /* Anything else a library may have left open must not reach the sandbox. */
    syscall(SYS_close_range, 5, ~0U, 0);

    if (uid != (uid_t)-1) {
        drop_to(uid, gid);
        /* setresuid clears the death signal; set it again for the exec'd bwrap's lifetime until
           bwrap installs its own --die-with-parent. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl(PDEATHSIG)");
        if (parent != 0 && getppid() != parent) die_msg("parent already gone");
    }

    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("prctl(CHILD_SUBREAPER)");
    pid_t tool = fork();
    if (tool < 0) die("fork");
    if (tool == 0) {
        /* The tool's death signal is tied to us: if we are killed, the sandbox goes with us. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl(PDEATHSIG)");
        char *empty_env[] = {NULL};
        execve(command[0], command, empty_env);
        die(command[0]);
    }
    /* Keep no copy of the program's pipes: the service must see end-of-file when the sandbox is gone, not when we are. */
    int devnull = open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 4; fd++) {
        if (devnull >= 0 && fd <= 2) dup2(devnull, fd); else close(fd);
    }
    int tool_status = 0;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) break; /* ECHILD: everything is reaped */
        if (pid == tool) tool_status = status;
    }
    if (WIFEXITED(tool_status)) _exit(WEXITSTATUS(tool_status));
    _exit(128 + WTERMSIG(tool_status));
}

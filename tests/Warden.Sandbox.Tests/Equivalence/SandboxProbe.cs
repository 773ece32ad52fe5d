using System.Text.Json;
using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Equivalence;

/// <summary>
/// A program that prints what a sandbox looks like from inside, as facts ("name" → value): every mount point and
/// whether it is read-only, the ids, capabilities, seccomp and no_new_privs, the rlimits, the hostname, the network
/// interfaces, the working directory, and which of <see cref="Paths"/> the program can create a file in.
/// </summary>
internal static class SandboxProbe
{
    /// <summary>Where a program might try to leave something; only the workspace and /tmp may take it.</summary>
    public static readonly string[] Paths =
    [
        "/", "/bin", "/usr", "/usr/lib", "/etc", "/etc/ssl", "/tmp", "/sandbox", "/dev", "/dev/shm", "/dev/mqueue", "/proc/sys/kernel", "/sys",
        "/var", "/var/tmp", "/opt", "/root", "/run", "/home", "/mnt",
    ];

    private static readonly string Code = """
        import json, os, resource, socket
        facts = {}
        for line in open('/proc/self/mountinfo'):
            f = line.split()
            facts['mount ' + f[4].replace('\\040', ' ')] = f[5].split(',')[0]
        facts['uid'] = '%d/%d' % (os.getuid(), os.geteuid())
        facts['gid'] = '%d/%d' % (os.getgid(), os.getegid())
        facts['groups'] = ','.join(str(g) for g in sorted(os.getgroups()))
        status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
        for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'Seccomp', 'NoNewPrivs'):
            facts['status ' + k] = status[k].strip() if k in status else '(absent)'
        def limit(v): return 'unlimited' if v == resource.RLIM_INFINITY else str(v)
        for name in ('CPU', 'FSIZE', 'NOFILE', 'NPROC', 'CORE', 'AS', 'STACK'):
            soft, hard = resource.getrlimit(getattr(resource, 'RLIMIT_' + name))
            facts['rlimit ' + name] = limit(soft) + ':' + limit(hard)
        facts['hostname'] = socket.gethostname()
        facts['interfaces'] = ','.join(sorted(l.split(':')[0].strip() for l in list(open('/proc/net/dev'))[2:]))
        facts['cwd'] = os.getcwd()
        for path in json.loads(os.environ.get('PROBE_PATHS', '[]')) or PATHS:
            name = os.path.join(path, '.probe-%d' % os.getpid())
            try:
                os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                os.unlink(name)
                facts['writable ' + path] = 'yes'
            except OSError:
                facts['writable ' + path] = 'no'  # read-only, not permitted, or not there: the program cannot leave anything
        print(json.dumps(facts))
        """;

    /// <summary>Runs the probe on <paramref name="engine"/> and returns its facts.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> RunAsync(ExecutionEngine engine)
    {
        var code = Code.Replace("PATHS", JsonSerializer.Serialize(Paths), StringComparison.Ordinal);
        var result = await engine.RunAsync(Run.Python(code));
        Run.AssertStatus(ExecutionStatus.Success, result);
        return JsonSerializer.Deserialize<Dictionary<string, string>>(result.Run.Stdout)!;
    }
}

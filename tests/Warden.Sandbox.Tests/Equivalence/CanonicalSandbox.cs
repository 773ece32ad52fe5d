using System.Globalization;
using Microsoft.Extensions.Options;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Sandbox.Tests.Equivalence;

/// <summary>
/// What the probe should see in a sandbox exactly as the <see cref="SandboxSpec"/> of a default run describes it: the
/// spec is built by the product's own builder (default limits, the default filesystem options, one prepared /etc) and
/// turned into probe facts here. Backends are held to this, bar <see cref="KnownDifferences"/>.
/// </summary>
internal static class CanonicalSandbox
{
    public static SandboxSpec Spec()
    {
        var limits = new LimitPolicy(Options.Create(new LimitsOptions())).Resolve(null);
        var filesystem = new SandboxFilesystemOptions();
        var (links, topDirs) = SandboxFilesystemOptions.TopLevel();
        var layout = new BwrapLayout("/prepared/etc", [.. filesystem.ReadOnlyDirectories, .. topDirs], links,
            [.. filesystem.ReadOnlyPathsIfPresent.Where(p => !p.StartsWith("/etc/", StringComparison.Ordinal))]);
        var command = new SandboxCommand(["/usr/bin/python3"], new Dictionary<string, string>(), []);
        return SandboxSpecBuilder.Build(layout.Base(), new SandboxUser(BwrapRenderer.SandboxUid, BwrapRenderer.SandboxUid), limits, command,
            new WorkspaceMount("/host/workspace", SandboxSpecBuilder.DefaultWorkspace));
    }

    public static Dictionary<string, string> Facts(SandboxSpec spec)
    {
        var facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["mount /"] = "ro" };
        foreach (var mount in spec.Mounts)
        {
            switch (mount)
            {
                case ReadOnlyBind { IfPresent: true } bind when !Path.Exists(bind.Source): break;
                case ReadOnlyBind bind: facts["mount " + bind.Target] = "ro"; break;
                case SymlinkMount: break;
                case DevMount dev:
                    facts["mount " + dev.Target] = "rw";
                    facts["mount " + dev.Target + "/pts"] = "rw"; // pseudo-terminals: part of the minimal /dev
                    break;
                default: facts["mount " + mount.Target] = "rw"; break;
            }
        }
        facts["uid"] = $"{spec.User.Uid}/{spec.User.Uid}";
        facts["gid"] = $"{spec.User.Gid}/{spec.User.Gid}";
        facts["groups"] = "";
        foreach (var set in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" }) facts["status " + set] = "0000000000000000";
        facts["status Seccomp"] = "2"; // a filter is installed
        facts["status NoNewPrivs"] = "1";
        var r = spec.Rlimits;
        facts["rlimit CPU"] = $"{r.CpuSoftSeconds}:{r.CpuHardSeconds}";
        facts["rlimit FSIZE"] = $"{r.FileSizeBytes}:{r.FileSizeBytes}";
        facts["rlimit NOFILE"] = $"{r.OpenFiles}:{r.OpenFiles}";
        facts["rlimit NPROC"] = $"{r.Processes}:{r.Processes}";
        facts["rlimit CORE"] = $"{r.CoreBytes}:{r.CoreBytes}";
        // Not in the spec: inherited from the service (this process), as every backend leaves them.
        facts["rlimit AS"] = OwnLimit("Max address space");
        facts["rlimit STACK"] = OwnLimit("Max stack size");
        facts["hostname"] = spec.Hostname;
        facts["interfaces"] = spec.Network == NetworkPolicy.None ? "lo" : throw new NotSupportedException("The probe runs without network.");
        facts["cwd"] = spec.WorkingDirectory;
        var writable = spec.Mounts.Where(m => m is TmpfsMount or WorkspaceMount or WritableBind).Select(m => m.Target)
            .Append("/dev/shm") // POSIX shared memory, part of the minimal /dev
            .ToHashSet(StringComparer.Ordinal);
        foreach (var path in SandboxProbe.Paths) facts["writable " + path] = writable.Contains(path) ? "yes" : "no";
        return facts;
    }

    /// <summary>"soft:hard" of one of this process's limits, from /proc/self/limits.</summary>
    private static string OwnLimit(string name)
    {
        var line = File.ReadLines("/proc/self/limits").Single(l => l.StartsWith(name, StringComparison.Ordinal));
        var fields = line[name.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return $"{fields[0]}:{fields[1]}";
    }
}

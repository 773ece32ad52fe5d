using System.Globalization;
using Warden.Core.Limits;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>The files and binds every bwrap sandbox shares, prepared once per instance.</summary>
/// <param name="EtcDirectory">The prepared /etc (see <see cref="SandboxEtc"/>), bound read-only as one mount.</param>
/// <param name="ReadOnlyPathsIfPresent">Other small host paths, outside /etc, bound read-only when they exist.</param>
internal sealed record BwrapLayout(
    string EtcDirectory,
    IReadOnlyList<string> ReadOnlyDirectories,
    IReadOnlyList<(string Target, string Link)> Symlinks,
    IReadOnlyList<string> ReadOnlyPathsIfPresent);

/// <summary>Builds bwrap's argument list. Pure: everything it decides is visible to unit tests.</summary>
internal static class BwrapArguments
{
    public const string Workspace = "/sandbox";
    public const int SandboxUid = 1000;
    public const int SeccompFd = 3;
    public const int StatusFd = 4;

    /// <param name="readOnlyBinds">Extra host paths bound read-only (a session's kernel driver), as (host, sandbox) pairs.</param>
    /// <param name="workspace">Where the workspace appears inside the sandbox (and the initial working directory).</param>
    /// <param name="exitReport">A warm sandbox's exit report FIFO on the host, bound at
    /// <see cref="Slots.ExitReport.SandboxPath"/> (see <see cref="Slots.ExitReport"/>).</param>
    public static List<string> Build(BwrapLayout layout, string hostWorkspace, ResourceLimits limits, SandboxCommand command,
        IReadOnlyList<(string Source, string Target)>? readOnlyBinds = null, string workspace = Workspace, string? exitReport = null)
    {
        var a = new List<string>(96)
        {
            // Every namespace; the network one too unless this run was granted network access.
            "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
        };
        if (!limits.Network) a.Add("--unshare-net");
        a.AddRange([
            "--disable-userns", "--assert-userns-disabled",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", Str(SandboxUid), "--gid", Str(SandboxUid), "--hostname", "sandbox",
        ]);
        foreach (var dir in layout.ReadOnlyDirectories) a.AddRange(["--ro-bind", dir, dir]);
        foreach (var (target, link) in layout.Symlinks) a.AddRange(["--symlink", target, link]);
        a.AddRange(["--ro-bind", layout.EtcDirectory, "/etc"]);
        foreach (var path in layout.ReadOnlyPathsIfPresent) a.AddRange(["--ro-bind-try", path, path]);
        foreach (var (source, target) in readOnlyBinds ?? []) a.AddRange(["--ro-bind", source, target]);
        a.AddRange([
            "--proc", "/proc", "--dev", "/dev",
        ]);
        if (exitReport is not null) a.AddRange(["--bind", exitReport, Slots.ExitReport.SandboxPath]);
        a.AddRange([
            "--size", Str(limits.TmpBytes), "--tmpfs", "/tmp",
            "--bind", hostWorkspace, workspace, "--chdir", workspace,
            // The root bwrap builds is a writable tmpfs: make it read-only once every mount point exists.
            "--remount-ro", "/",
            "--clearenv",
        ]);
        foreach (var (key, value) in command.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            a.AddRange(["--setenv", key, value]);
        a.AddRange(["--seccomp", Str(SeccompFd), "--json-status-fd", Str(StatusFd), "--"]);
        a.AddRange(command.Argv);
        return a;
    }

    /// <summary>The rlimits the exec helper applies before it execs bwrap (inherited by everything inside).</summary>
    public static IEnumerable<string> Rlimits(ResourceLimits limits)
    {
        long cpu = Math.Max(1, (long)Math.Ceiling(limits.CpuTime.TotalSeconds));
        // Soft limit sends SIGXCPU, the hard one a second later SIGKILL for programs that ignore it.
        yield return $"rlimit=cpu:{cpu}:{cpu + 1}";
        yield return $"rlimit=fsize:{limits.MaxFileBytes}:{limits.MaxFileBytes}";
        yield return $"rlimit=nofile:{limits.MaxOpenFiles}:{limits.MaxOpenFiles}";
        yield return "rlimit=core:0:0";
    }

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);
}

using Microsoft.Extensions.Logging;
using Warden.Core.Cgroups;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Files;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// Removes what instances that died without cleaning up (kill -9, power loss) left behind: processes and cgroups,
/// workspace mounts, run directories. An instance is dead when its pid is gone or was reused (see <see cref="WardenInstance"/>).
/// </summary>
internal static partial class StaleInstances
{
    /// <summary>Hooks backends add to reap their own leftovers in a dead instance's run directory (e.g. runsc state).</summary>
    public static event Action<string>? ReapingRunDirectory;

    public static void Reap(string stateDirectory, ILogger logger)
    {
        var runRoot = Path.Combine(stateDirectory, "run");
        if (!Directory.Exists(runRoot)) return;
        int cgroups = CgroupHost.ReapStale(CgroupHost.Probe(), WardenInstance.IsAlive);
        int mounts = 0, dirs = 0;
        foreach (var mountPoint in MountPointsUnder(runRoot).OrderByDescending(m => m.Length))
        {
            var instance = Path.GetRelativePath(runRoot, mountPoint).Split('/')[0];
            if (WardenInstance.IsAlive(instance)) continue;
            if (Libc.umount2(mountPoint, Libc.MNT_DETACH) == 0) mounts++;
        }
        foreach (var dir in Directory.GetDirectories(runRoot))
        {
            if (WardenInstance.IsAlive(Path.GetFileName(dir))) continue;
            ReapingRunDirectory?.Invoke(dir);
            try
            {
                // Workspaces that were plain directories hold whatever their sandboxes left: emptied beneath-only first
                // (no link followed, any depth), then the rest is Warden's own.
                foreach (var workspace in Directory.GetDirectories(dir, "ws-*"))
                {
                    using var tree = SandboxTree.Open(workspace);
                    tree.DeleteContents();
                }
                Directory.Delete(dir, recursive: true);
                dirs++;
            }
            catch (IOException) { }
        }
        if (cgroups + mounts + dirs > 0) Log.Reaped(logger, cgroups, mounts, dirs);
    }

    public static IEnumerable<string> MountPointsUnder(string root)
    {
        var prefix = root.TrimEnd('/') + "/";
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && fields[4].StartsWith(prefix, StringComparison.Ordinal)) yield return fields[4];
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.ReapedStale, LogLevel.Warning, "Reaped leftovers of crashed instances: {Cgroups} cgroups, {Mounts} mounts, {Directories} directories")]
        public static partial void Reaped(ILogger logger, int cgroups, int mounts, int directories);
    }
}

using Warden.Core.Interop;

namespace Warden.Core.Cgroups;

/// <summary>
/// Signals to the processes a cgroup lists, from the host, without signalling anything else. kill(pid) on a pid read
/// from cgroup.procs races: the process may exit and its pid go to a host process (pid_max is 32768 on many hosts, and
/// a sandbox can fork through that many pids quickly) before the signal is sent, and Warden signals as root.
/// </summary>
internal static class CgroupSignals
{
    /// <summary>
    /// Sends <paramref name="signal"/> to every process <paramref name="readPids"/> lists but the <paramref name="spared"/>.
    /// Each pid is pinned first with a pidfd, then the list is read again: a pid listed after its pidfd was taken held a
    /// member at that moment, and the pidfd names the process first seen, so the signal reaches a member or (if it died
    /// meanwhile) nobody (ESRCH). Without pidfds (kernels before 5.3) it falls back to kill.
    /// </summary>
    /// <returns>How many processes were sent the signal.</returns>
    public static int SignalMembers(Func<IReadOnlyCollection<int>> readPids, int signal, Func<int, bool> spared)
    {
        ArgumentNullException.ThrowIfNull(readPids);
        ArgumentNullException.ThrowIfNull(spared);
        var pinned = new List<(int Pid, int Fd)>();
        try
        {
            foreach (var pid in readPids())
            {
                if (pid <= 0 || spared(pid)) continue;
                int fd = (int)Libc.syscall2(Libc.SYS_pidfd_open, pid, 0);
                if (fd >= 0) pinned.Add((pid, fd));
                else if (Libc.LastError == Libc.ENOSYS) return KillListed(readPids, signal, spared);
                // ESRCH: gone already. Anything else (no descriptors left): not signalled this time; callers that must
                // empty the cgroup loop until it is empty.
            }
            if (pinned.Count == 0) return 0;
            var still = readPids().ToHashSet();
            int sent = 0;
            foreach (var (pid, fd) in pinned)
                if (still.Contains(pid) && Libc.syscall4(Libc.SYS_pidfd_send_signal, fd, signal, 0, 0) == 0) sent++;
            return sent;
        }
        finally
        {
            foreach (var (_, fd) in pinned) Libc.close(fd);
        }
    }

    /// <summary>The fallback without pidfds: kill by pid, with the race this class exists to avoid.</summary>
    private static int KillListed(Func<IReadOnlyCollection<int>> readPids, int signal, Func<int, bool> spared)
    {
        int sent = 0;
        foreach (var pid in readPids())
            if (pid > 0 && !spared(pid) && Libc.kill(pid, signal) == 0) sent++;
        return sent;
    }

    /// <summary>The pids every one of <paramref name="procsFiles"/> lists, once each.</summary>
    public static Func<IReadOnlyCollection<int>> Reader(IReadOnlyList<string> procsFiles) =>
        () => procsFiles.SelectMany(CgroupFiles.ReadPids).ToHashSet();
}

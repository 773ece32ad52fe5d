using System.Runtime.InteropServices;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>What the host sees of users' home filesystems: statfs, mounts and loop devices of one state directory.</summary>
internal static partial class HomeFilesystems
{
    public const long Ext4Magic = 0xEF53, TmpfsMagic = 0x01021994;

    /// <summary>statfs of a path, from the host.</summary>
    public static Usage Statfs(string path)
    {
        Assert.Equal(0, statfs(path, out var fs));
        return new Usage(fs.Type, (fs.Blocks - fs.FreeBlocks) * (ulong)fs.BlockSize, fs.Blocks * (ulong)fs.BlockSize, fs.Files, fs.Files - fs.FreeFiles);
    }

    /// <summary>Mount points at or below <paramref name="stateDirectory"/> (this process's mount namespace: the host's).</summary>
    public static List<string> MountsUnder(string stateDirectory) =>
        [.. File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(stateDirectory + "/", StringComparison.Ordinal))];

    /// <summary>Loop devices whose backing file is under <paramref name="stateDirectory"/>, from sysfs.</summary>
    public static List<string> LoopDevicesUnder(string stateDirectory)
    {
        var found = new List<string>();
        foreach (var dir in Directory.GetDirectories("/sys/block", "loop*"))
        {
            var backing = Path.Combine(dir, "loop", "backing_file");
            try
            {
                if (File.ReadAllText(backing).StartsWith(stateDirectory + "/", StringComparison.Ordinal)) found.Add(Path.GetFileName(dir));
            }
            catch (IOException) { } // unbound: no loop/ directory
        }
        return found;
    }

    /// <summary>Waits (bounded) for loop devices to unbind: the kernel's autoclear runs a moment after the unmount.</summary>
    public static async Task<List<string>> LoopDevicesAfterUnbindAsync(string stateDirectory)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        List<string> left;
        while ((left = LoopDevicesUnder(stateDirectory)).Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(50, TestContext.Current.CancellationToken);
        return left;
    }

    public sealed record Usage(long Type, ulong UsedBytes, ulong SizeBytes, ulong Inodes, ulong UsedInodes);

    [StructLayout(LayoutKind.Sequential, Size = 120)]
    private struct StatfsBuffer
    {
        public long Type;
        public long BlockSize;
        public ulong Blocks;
        public ulong FreeBlocks;
        public ulong AvailableBlocks;
        public ulong Files;
        public ulong FreeFiles;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statfs(string path, out StatfsBuffer buffer);
}
